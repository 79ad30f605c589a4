"""nnmnist serve (issue 30): the installed command run as a server on the loopback address and
asked over real sockets: the same answers as `nnmnist predict`, bounded bodies and waits, clear
4xx answers to hostile requests, no traceback anywhere, a load test with memory flat, Ctrl-C."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnmnist.io import mnist

from .measure import default_sigint

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).with_name("nnmnist"))
ENV = {k: v for k, v in os.environ.items() if k != "NNMNIST_WEIGHTS"} | {"NO_COLOR": "1"}


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [EXE, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            preexec_fn=default_sigint,
        )
        deadline = time.monotonic() + 60
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            self.lines.append(line)
            if found := re.search(r"http://127\.0\.0\.1:([0-9]+)/", line):
                self.port = int(found.group(1))
                return
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"the server did not start: {self.lines}")

    def ask(
        self, method: str, path: str, body: bytes | None = None, kind: str | None = None
    ) -> tuple[int, dict, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": kind} if kind else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        data = (
            json.loads(raw)
            if r.getheader("content-type", "").startswith("application/json")
            else {"raw": raw}
        )
        return r.status, data, dict(r.getheaders())

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture(scope="module")
def server():
    s = Server("--body-timeout", "2")
    yield s
    if s.proc.poll() is None:
        s.stop()


def png(pixels: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_health_models_and_the_page(server):
    status, health, _ = server.ask("GET", "/health")
    assert status == 200 and health["status"] == "ok" and "writers" in health["model"]
    status, models, _ = server.ask("GET", "/models")
    assert status == 200 and [m["name"] for m in models["models"]][0] == "writers"
    for path, kind in (
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ):
        status, data, headers = server.ask("GET", path)
        assert status == 200 and headers["content-type"].startswith(kind)
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe" not in csp
        text = data["raw"].decode()
        assert "http://" not in text and "https://" not in text  # nothing fetched elsewhere
        assert "<script>" not in text and "style=" not in text  # nothing inline


def test_predict_answers_what_the_command_line_answers(server, tmp_path):
    """The example pictures and 300 test digits written as PNG files: label, refusal and
    probabilities as `nnmnist predict --format csv` gives them."""
    ds = mnist.load("bundled", "test")
    for i in range(300):
        (tmp_path / f"{i:03d}.png").write_bytes(png(ds.images[i].reshape(28, 28)))
    files = sorted(tmp_path.glob("*.png")) + sorted((ROOT / "examples" / "photos").iterdir())
    files.append(ROOT / "examples" / "not-a-digit.png")
    csv = subprocess.run(
        [EXE, "predict", *map(str, files), "--format", "csv", "--top-k", "10"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    ).stdout.splitlines()[1:]
    assert len(csv) == len(files)
    kinds = {".png": "image/png", ".jpg": "image/jpeg", ".bmp": "image/bmp", ".gif": "image/gif"}
    for path, line in zip(files, csv, strict=True):
        status, got, _ = server.ask("POST", "/predict", path.read_bytes(), kinds[path.suffix])
        assert status == 200, got
        cells = line.split(",")
        if cells[1] == "":
            assert got["label"] is None and cells[-1] == f"refused: {got['refused']['reason']}"
            continue
        assert got["label"] == int(cells[1]) and got["refused"] is None
        pairs = dict(zip(cells[1:21:2], cells[2:21:2], strict=True))  # top 10: label, prob
        for digit, p in pairs.items():
            assert abs(got["probabilities"][int(digit)] - float(p)) <= 2e-6


def test_the_picture_the_network_saw_and_json_pixels(server):
    ds = mnist.load("bundled", "test")
    status, got, _ = server.ask(
        "POST", "/predict?picture=1", png(ds.images[0].reshape(28, 28)), "image/png"
    )
    assert status == 200 and np.array(got["picture"]).shape == (28, 28)
    grid = ds.images[0].reshape(28, 28).tolist()  # MNIST's shape: used as it is
    status, same, _ = server.ask(
        "POST", "/predict", json.dumps({"pixels": grid}).encode(), "application/json"
    )
    assert status == 200 and same["label"] == int(ds.labels[0])
    blank = json.dumps({"pixels": [0] * 784}).encode()
    status, none, _ = server.ask("POST", "/predict", blank, "application/json")
    assert status == 200 and none["label"] is None and none["refused"]["reason"] == "blank"
    big = np.kron(255 - ds.images[0].reshape(28, 28), np.ones((5, 5), np.uint8))  # 140x140 paper
    status, drawn, _ = server.ask(
        "POST", "/predict", json.dumps({"pixels": big.tolist()}).encode(), "application/json"
    )
    assert status == 200 and drawn["label"] == int(ds.labels[0])


def test_number_reads_what_predict_number_reads(server):
    path = ROOT / "examples" / "numbers" / "0123.png"
    status, got, _ = server.ask("POST", "/number", path.read_bytes(), "image/png")
    line = subprocess.run(
        [EXE, "predict", str(path), "--number", "--format", "csv"],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    ).stdout.splitlines()[1]
    assert status == 200 and got["number"] == line.split(",")[1] == "0123"


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        (b"hello", "text/plain", 415),
        (b"hello", None, 415),
        (b"{bad json", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b'{"pixels": [[1, 2], [3]]}', "application/json", 400),
        (b'{"pixels": [[1, "x"]]}', "application/json", 400),
        (b'{"pixels": [[1e999]]}', "application/json", 400),
        (b'{"pixels": [[300]]}', "application/json", 400),
        (b"[" * 100000, "application/json", 400),
        (b"", "image/png", 400),
        (b"not a picture at all", "image/png", 422),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png", 422),
    ],
)
def test_bad_requests_get_one_clear_4xx(server, body, kind, status):
    got_status, got, _ = server.ask("POST", "/predict", body, kind)
    assert got_status == status, got
    assert set(got) == {"error"} and "Traceback" not in got["error"] and "\n" not in got["error"]


def test_no_path_of_the_file_system_is_reachable(server):
    for path in (
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/index.html",
        "/app.py",
        "/web/app.js",
    ):
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        conn.close()
        assert answer.startswith(b"HTTP/1.1 404"), (path, answer[:100])
        assert b"root:" not in answer
    status, got, _ = server.ask("DELETE", "/predict")
    assert status == 405 and "error" in got


def test_an_oversized_body_is_refused_without_being_read(server):
    # declared: refused before a byte of it is read
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    assert conn.recv(65536).startswith(b"HTTP/1.1 413")
    conn.close()
    # not declared (chunked): refused once it passes the cap
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"\0" * 65536
    sent, answer = 0, b""
    for _ in range(400):  # up to 26 MB offered; the server answers after 8 MB
        try:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        except OSError:
            break
        if select.select([conn], [], [], 0)[0]:
            answer = conn.recv(65536)
            break
    if not answer:
        conn.settimeout(10)
        answer = conn.recv(65536)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 413") and sent < 16 * 1024 * 1024


def test_a_slow_client_does_not_hold_the_server(server):
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    conn.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"
    )
    start = time.monotonic()
    answer = b""
    conn.settimeout(1.0)
    while not answer and time.monotonic() - start < 20:
        try:
            conn.sendall(b"x")  # a byte a second
            answer = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
    conn.close()
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - start < 6
    status, _, _ = server.ask("GET", "/health")  # and the others were answered meanwhile
    assert status == 200


def test_load_twenty_clients_two_thousand_requests_no_errors_memory_flat(server):
    ds = mnist.load("bundled", "test")
    bodies = [png(ds.images[i].reshape(28, 28)) for i in range(100)]
    for b in bodies[:20]:  # warm up: every array the server keeps is made
        server.ask("POST", "/predict", b, "image/png")
    before = server.rss_kb()

    def client(k: int) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        times = []
        for i in range(100):
            start = time.perf_counter()
            conn.request(
                "POST",
                "/predict",
                body=bodies[(k + i) % 100],
                headers={"Content-Type": "image/png"},
            )
            r = conn.getresponse()
            data = json.loads(r.read())
            assert r.status == 200 and data["label"] is not None or data["refused"]
            times.append(time.perf_counter() - start)
        conn.close()
        return times

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        times = [t for part in pool.map(client, range(20)) for t in part]
    seconds = time.perf_counter() - start
    after = server.rss_kb()
    assert len(times) == 2000
    p50, p99 = statistics.median(times), float(np.percentile(times, 99))
    print(
        f"2,000 requests, 20 clients: {2000 / seconds:.0f}/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, RSS {before / 1024:.0f} -> {after / 1024:.0f} MB"
    )
    assert after - before < 30 * 1024, (before, after)


def test_ctrl_c_stops_the_server_cleanly():
    s = Server()
    assert s.ask("GET", "/health")[0] == 200
    code, err = s.stop()
    assert code == 0 and err.rstrip().endswith("stopped") and "Traceback" not in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2)


def test_without_the_extra_one_line_names_it():
    code = "import sys; sys.modules['uvicorn'] = None; from nnmnist.cli import main; sys.argv = ['nnmnist', 'serve']; main()"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "pip install 'nnmnist[serve]'" in run.stderr


CHROMIUM = __import__("shutil").which("chromium") or __import__("shutil").which("chromium-browser")


def draw(page, strokes: list[list[tuple[int, int]]]) -> None:
    """Mouse strokes on the pad, in the canvas's own 280x280 pixels."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
            for t in np.linspace(0, 1, 12)[1:]:
                page.mouse.move(box["x"] + x0 + t * (x1 - x0), box["y"] + y0 + t * (y1 - y0))
        page.mouse.up()


SEVEN = [[(70, 60), (210, 60), (150, 150), (115, 235)]]
SEVENTEEN = [[(60, 70), (60, 220)], [(130, 70), (230, 70), (190, 145), (165, 220)]]


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_a_digit_and_a_number_drawn_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    messages, outside = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 800, "height": 640})
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: messages.append(("pageerror", str(e))))
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(f"http://127.0.0.1:{server.port}/")
                else outside.append(r.url)
            ),
        )
        page.goto(f"http://127.0.0.1:{server.port}/", wait_until="load")
        # (the page's CSP forbids eval: waits go through Playwright's own locators)
        expect = sync_api.expect
        expect(page.locator("#model")).to_contain_text("model: ")
        draw(page, SEVEN)
        expect(page.locator("#label")).to_have_text(re.compile(r"^[0-9]$"))
        seven = page.locator("#label").text_content()
        picture = page.locator("#seen").screenshot(path=str(tmp_path / "seen.png"))
        page.screenshot(path=str(tmp_path / "seven.png"))
        page.click("#clear")
        expect(page.locator("#label")).to_have_text(re.compile(r"^\s*$"))
        draw(page, SEVENTEEN)
        expect(page.locator("#number")).to_have_text(re.compile("^number: "))
        number = page.locator("#number").text_content()
        page.click("#undo")  # the 7 goes: a 1 is left
        expect(page.locator("#label")).to_have_text("1")
        browser.close()
    assert seven == "7"
    assert number == "number: 17"
    grey = np.asarray(Image.open(__import__("io").BytesIO(picture)).convert("L"))
    assert grey.max() > 200 and (grey > 0).mean() > 0.05  # the 28x28 picture is drawn
    assert not outside  # nothing fetched elsewhere
    assert not [m for m in messages if m[0] in ("error", "pageerror")], messages


def test_a_decompression_bomb_is_refused_unread(server, tmp_path):
    import io

    buf = io.BytesIO()
    Image.new("L", (12000, 12000), 255).save(buf, "PNG", optimize=True)  # 137 MB decoded
    before = server.rss_kb()
    status, got, _ = server.ask("POST", "/predict", buf.getvalue(), "image/png")
    assert status == 422 and "decompression bomb" in got["error"]
    assert server.rss_kb() - before < 20 * 1024


def test_a_picture_past_the_time_limit_gets_503_and_the_server_goes_on():
    s = Server("--time-limit", "0.001", "--workers", "1")
    try:
        photo = (ROOT / "examples" / "photos" / "two-on-paper.jpg").read_bytes()
        status, got, _ = s.ask("POST", "/predict", photo, "image/jpeg")
        assert status == 503 and "no answer within 0.001 s" in got["error"]
        assert s.ask("GET", "/health")[0] == 200
    finally:
        s.stop()
