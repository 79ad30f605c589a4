"""`nnmnist serve`'s ASGI application (Starlette): a drawing pad and a JSON API over one model.

Routes, all fixed (nothing of the file system is reachable: the page's three files are read
from the package once, by name):

    GET  /            the drawing pad (index.html, app.js, app.css; nothing fetched elsewhere)
    POST /predict     one picture: an image file as the body (PNG, JPEG, ...), or JSON
                      {"pixels": [[...], ...]}; ?picture=1 adds the 28x28 digit the network saw
    POST /number      a written number, read as `nnmnist predict --number` reads it
    GET  /models      the shipped models, and which one answers
    GET  /health      {"status": "ok", ...}

Every answer comes from the same preparation, gate and network as `nnmnist predict` (the
public API's prepare, Model.predict_proba and Model.read_number). Bounds: a body past
MAX_BODY bytes is refused (413) from its Content-Length or as soon as it passes the cap,
without reading further; a body that does not arrive within BODY_SECONDS is refused (408); at
most `workers` pictures are worked on at once (the others wait, up to WORK_SECONDS, then 503);
decoding is bounded as on the command line. Errors are JSON {"error": "..."} with a 4xx or 5xx
status, never a traceback.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nnmnist.api import Model, prepare
from nnmnist.errors import DataError, ImageError, Refused

MAX_BODY = 8 * 1024 * 1024  # a phone's photo; the decoder's own budget applies after
MAX_JSON = 1024 * 1024  # pixels as JSON: a 28x28 grid is 4 kB, a 280x280 canvas 300 kB
MAX_SIDE = 1024  # the largest grid of pixels taken as JSON
BODY_SECONDS = 10.0  # a body must arrive within this (a byte a second does not hold a worker)
WORK_SECONDS = 20.0  # waiting for a free worker and working, per request
IMAGE_TYPES = ("image/",)
JSON_TYPE = "application/json"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}


class Problem(Exception):
    """A request that gets an error answer: the status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=HEADERS)


async def read_body(request: Request, limit: int, seconds: float = BODY_SECONDS) -> bytes:
    """The request's body, at most limit bytes and within seconds; Problem otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise Problem(413, f"the body is over {limit:,} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Problem(413, f"the body is over {limit:,} bytes")
                parts.append(chunk)
    except TimeoutError:
        raise Problem(408, f"the body did not arrive within {seconds:g} s") from None
    return b"".join(parts)


def _picture(body: bytes, kind: str) -> Any:
    """The body as a picture: a decoded image (bounded as the command line's), or JSON pixels
    as an array (a 28x28 grid is used as it is, as predict uses MNIST-shaped arrays)."""
    from nnmnist.vision.images import open_image

    if kind.startswith(IMAGE_TYPES):
        return open_image(io.BytesIO(body), "the picture")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise Problem(400, "the body is not valid JSON") from None
    pixels = doc.get("pixels") if isinstance(doc, dict) else None
    if not isinstance(pixels, list) or not pixels:
        raise Problem(400, 'give {"pixels": [[...], ...]}: rows of grey levels 0-255')
    if all(isinstance(v, int | float) for v in pixels) and len(pixels) == 784:
        pixels = [pixels[i : i + 28] for i in range(0, 784, 28)]
    if not all(isinstance(row, list) for row in pixels):
        raise Problem(400, "pixels must be rows of numbers (or 784 numbers)")
    width = len(pixels[0])
    if not 1 <= width <= MAX_SIDE or len(pixels) > MAX_SIDE:
        raise Problem(400, f"pixels must be at most {MAX_SIDE} x {MAX_SIDE}")
    if any(len(row) != width for row in pixels) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for row in pixels for v in row
    ):
        raise Problem(400, "pixels must be rows of equal length, of numbers")
    grid = np.array(pixels, np.float64)
    if not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 255:
        raise Problem(400, "pixels must be grey levels from 0 to 255")
    return grid


def _kind(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith(IMAGE_TYPES) or kind == JSON_TYPE):
        raise Problem(415, "send an image file (image/png, image/jpeg, ...) or application/json")
    return kind


def _refusal(exc: Refused) -> dict[str, Any]:
    return {"reason": exc.reason, "message": str(exc)}


def predict_one(model: Model, picture: Any, with_picture: bool) -> dict[str, Any]:
    """predict's answer for one picture: label, probabilities, refusal (and the digit)."""
    try:
        if isinstance(picture, np.ndarray) and picture.shape == (28, 28):
            digit = np.rint(picture).astype(np.uint8)  # MNIST's shape: used as it is
            if not digit.any():  # as predict refuses an all-zero row of an array
                raise Refused("pixels: blank (all zero)", "blank")
        else:
            digit = np.asarray(prepare(picture))
    except Refused as exc:
        return {"label": None, "probabilities": None, "refused": _refusal(exc)}
    probs = model.predict_proba(digit)
    out: dict[str, Any] = {
        "label": int(np.argmax(probs)),
        "probabilities": [round(float(p), 6) for p in probs],
        "refused": None,
    }
    if with_picture:
        out["picture"] = digit.reshape(28, 28).tolist()
    return out


def read_number(model: Model, picture: Any) -> dict[str, Any]:
    if isinstance(picture, np.ndarray):
        from PIL import Image

        picture = Image.fromarray(np.rint(picture).astype(np.uint8))
    try:
        number = model.read_number(picture)
    except Refused as exc:
        return {"number": None, "digits": [], "refused": _refusal(exc)}
    probs = np.asarray(number.probs)
    return {
        "number": number.text,
        "digits": [
            {"label": int(p.argmax()), "probability": round(float(p.max()), 6)} for p in probs
        ],
        "confidence": round(float(number.confidence), 6),
        "refused": None,
    }


def create_app(
    model: Model,
    *,
    workers: int = 2,
    models: list[dict[str, Any]] | None = None,
    body_seconds: float = BODY_SECONDS,
    work_seconds: float = WORK_SECONDS,
) -> Starlette:
    """The application over one loaded model; workers: pictures worked on at once;
    body_seconds: how long a request's body may take to arrive; work_seconds: how long a
    picture may wait for a worker and be worked on (then 503; the work itself, bounded by the
    decoding budget, finishes in its thread and still holds its worker till then)."""
    limiter = anyio.CapacityLimiter(max(1, workers))
    pages = {
        route: resources.files("nnmnist.web").joinpath(name).read_bytes()
        for route, (name, _) in STATIC.items()
    }

    async def static(request: Request) -> Response:
        name, media = STATIC[request.url.path]
        return Response(pages[request.url.path], media_type=media, headers=HEADERS)

    async def work(request: Request, answer: Any, **extra: Any) -> Response:
        try:
            kind = _kind(request)
            limit = MAX_JSON if kind == JSON_TYPE else MAX_BODY
            body = await read_body(request, limit, body_seconds)
            if not body:
                raise Problem(400, "the body is empty: send a picture")

            def run() -> dict[str, Any]:
                result: dict[str, Any] = answer(model, _picture(body, kind), **extra)
                return result

            with anyio.fail_after(work_seconds):
                result = await anyio.to_thread.run_sync(
                    run, limiter=limiter, abandon_on_cancel=True
                )
        except Problem as exc:
            return _error(exc.status, str(exc))
        except TimeoutError:
            return _error(503, f"no answer within {work_seconds:g} s; try again")
        except ImageError as exc:
            return _error(422, str(exc))
        except DataError as exc:
            return _error(400, str(exc))
        except Exception:  # never a traceback in an answer
            return _error(500, "the picture could not be worked on")
        return JSONResponse(result, headers=HEADERS)

    async def predict(request: Request) -> Response:
        with_picture = request.query_params.get("picture", "") in ("1", "true", "yes")
        return await work(request, predict_one, with_picture=with_picture)

    async def number(request: Request) -> Response:
        return await work(request, read_number)

    async def list_models(request: Request) -> Response:
        return JSONResponse({"serving": model.name, "models": models or []}, headers=HEADERS)

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "model": model.name, "arch": model.net.spec}, headers=HEADERS
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "no such page: try / or POST /predict")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} is not allowed here")

    async def failed(request: Request, exc: Exception) -> Response:
        return _error(500, "internal error")

    routes = [Route(path, static, methods=["GET"]) for path in STATIC]
    routes += [
        Route("/predict", predict, methods=["POST"]),
        Route("/number", number, methods=["POST"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {404: not_found, 405: not_allowed, 500: failed, Exception: failed}
    return Starlette(routes=routes, exception_handlers=handlers)
