"""nnmnist serve: a drawing pad in the browser and a JSON API (nnmnist.web), one model loaded."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    ActivationOption,
    ArchOption,
    ModelOption,
    WeightsOption,
    load_network,
)

INSTALL_HINT = "nnmnist serve needs the optional extra: pip install 'nnmnist[serve]'"


@app.command()
@reports_errors
def serve(
    weights: WeightsOption = None,
    model: ModelOption = None,
    arch_spec: ArchOption = None,
    activation: ActivationOption = None,
    host: Annotated[
        str,
        typer.Option(
            help="The address to listen on: 127.0.0.1 answers this machine only; 0.0.0.0 "
            "every network it is on (anyone who can reach it can use it)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port (0: any free one).")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Pictures worked on at once (default: the cores); more requests wait.",
            show_default=False,
        ),
    ] = None,
    body_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=600,
            help="Seconds a request's body may take to arrive (a slow client is cut off).",
        ),
    ] = 10.0,
    time_limit: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=600,
            help="Seconds a picture may wait for a worker and be worked on (then 503).",
        ),
    ] = 20.0,
) -> None:
    """Serve a drawing pad in the browser and a JSON API for predictions.

    Open the address it prints: draw a digit (or several: a number) with the mouse, a pen or a
    finger, or drop a photo. Programs POST a picture to /predict or /number (README: "nnmnist
    serve"). The model is loaded once; Ctrl-C stops the server.

    Examples:

        nnmnist serve

        nnmnist serve --model mlp --port 8080

        curl --data-binary @digit.png -H 'Content-Type: image/png' localhost:8000/predict
    """
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        from nnmnist.errors import NnmnistError

        raise NnmnistError(INSTALL_HINT) from None
    from nnmnist.api import Model
    from nnmnist.engines.pool import workers as cores
    from nnmnist.models.weights import shipped_models
    from nnmnist.present import terminal as render
    from nnmnist.web.app import create_app

    net, path, _ = load_network(weights, activation, "serving", model=model, spec=arch_spec)
    listing = [{"name": name} for name in shipped_models()]
    application = create_app(
        Model(net, path),
        workers=workers or cores(),
        models=listing,
        body_seconds=body_timeout,
        work_seconds=time_limit,
    )
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        limit_concurrency=64,  # connections at once; past it, 503 at once
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
    server = uvicorn.Server(config)
    _announce(server, host, render)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn shut down, then passed Ctrl-C on
        server.run()
    render.message("stopped")


def _announce(server: object, host: str, render: object) -> None:
    """Print the address once the socket is bound (port 0 picks one)."""
    startup = server.startup  # type: ignore[attr-defined]

    async def started(*args: object, **kwargs: object) -> None:
        await startup(*args, **kwargs)
        for s in getattr(server, "servers", []):
            for sock in s.sockets:
                bound_host, bound_port = sock.getsockname()[:2]
                shown = bound_host if ":" not in bound_host else f"[{bound_host}]"
                render.message(  # type: ignore[attr-defined]
                    f"serving at http://{shown}:{bound_port}/ (Ctrl-C stops)"
                )
                return

    server.startup = started  # type: ignore[attr-defined]
