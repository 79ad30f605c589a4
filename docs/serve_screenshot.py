"""docs/serve.png: `nnmnist serve`'s page in Debian's Chromium after a 7 is drawn with the mouse
(the strokes of tests/test_serve.py). Needs the serve extra, Playwright and chromium."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.test_serve import SEVEN, Server, draw  # noqa: E402


def main() -> None:
    server = Server()
    try:
        with sync_playwright() as p:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 720, "height": 600})
            page.goto(f"http://127.0.0.1:{server.port}/")
            expect(page.locator("#model")).to_contain_text("model: ")
            draw(page, SEVEN)
            expect(page.locator("#label")).to_have_text("7")
            page.screenshot(path=str(ROOT / "docs" / "serve.png"))
            browser.close()
    finally:
        server.stop()
    print("wrote docs/serve.png")


if __name__ == "__main__":
    main()
