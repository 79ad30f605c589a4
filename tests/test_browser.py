"""The HTML report opened in a real browser (issue 16): Debian's Chromium, driven headless by
Playwright. The page must load with no console message of error level, fetch nothing (the
only request is the file itself), and the screenshot must show the heat map: blue cells down
the diagonal of the confusion matrix, where the page's layout puts them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

EXE = os.path.join(os.path.dirname(sys.executable), "nnmnist")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_the_report_opens_in_chromium_without_errors_or_requests(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NNMNIST_WEIGHTS", None)
    made = subprocess.run(
        [EXE, "evaluate", "--model", "mlp", "--limit", "3000", "--report", "r.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    url = (tmp_path / "r.html").as_uri()
    messages, requests, failed = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(url, wait_until="load")
        table = page.locator("#confusion").bounding_box()
        cells = [
            page.locator(f"#confusion tr:nth-child({t + 2}) td:nth-child({t + 2})").bounding_box()
            for t in range(10)
        ]
        off = page.locator("#confusion tr:nth-child(2) td:nth-child(3)").bounding_box()
        shot = tmp_path / "shot.png"
        page.screenshot(path=str(shot), full_page=True)
        images_loaded = page.evaluate(
            "Array.from(document.images).every(i => i.complete && i.naturalWidth === 28)"
        )
        browser.close()
    assert not [m for m in messages if m[0] in ("error", "pageerror", "warning")], messages
    assert requests == [url] and not failed, requests
    assert table is not None and images_loaded
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)

    def colour(box: dict) -> np.ndarray:  # a cell's colour, a little inside its corner
        x, y = int(box["x"] + 3), int(box["y"] + 3)
        return pixels[y, x]

    for box in cells:  # the diagonal: deep blue (31, 119, 180 over white, mostly opaque)
        r, g, b = colour(box)
        assert b > 150 and r < 120 and b - r > 60, (r, g, b)
    r, g, b = colour(off)  # 0 true, 1 predicted: no mistakes in 3,000 images, white
    assert min(r, g, b) > 200, (r, g, b)


HOSTILE = '"><img src=http://127.0.0.1:9/x onerror=alert(1)><script>alert(2)</script>'


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_a_report_of_hostile_names_and_meta_runs_no_script_and_sends_nothing(tmp_path):
    """Issue 26: a folder name, a file name and weight metadata written as markup reach the
    page as text: no dialog, no script, no request but the file's own."""
    import json

    sync_api = pytest.importorskip("playwright.sync_api")
    folder = tmp_path / "<svg onload=alert(3)> x"
    folder.mkdir()
    weights = folder / '"><svg onload=alert(4)>.npz'
    rng = np.random.default_rng(0)
    arrays = {
        "W1": (rng.standard_normal((784, 10)) * 0.01).astype(np.float32),
        "b1": np.zeros(10, np.float32),
    }
    meta = {"arch": "affine10", "creator": HOSTILE, "command": HOSTILE, "data": {"source": HOSTILE}}
    np.savez(weights, **arrays, meta=np.array(json.dumps(meta)))
    env = {**os.environ, "NO_COLOR": "1"}
    made = subprocess.run(
        [EXE, "evaluate", "-w", str(weights), "--limit", "200", "--report", "r.html"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    url = (tmp_path / "r.html").as_uri()
    dialogs, requests, messages = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.goto(url, wait_until="load")
        page.wait_for_timeout(300)
        text = page.inner_text("body")
        scripts = page.evaluate("document.scripts.length")
        browser.close()
    assert dialogs == [] and requests == [url], (dialogs, requests)
    assert not [m for m in messages if m[0] == "error"], messages
    assert scripts == 0
    assert "<svg onload=alert(4)>" in text  # shown as text, not run
