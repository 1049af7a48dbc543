"""``rnnlab serve [--host --port --reload]``: run the dashboard and API with uvicorn."""
import argparse

import uvicorn

from app.settings import get_settings


class GracefulServer(uvicorn.Server):
    """On Ctrl-C / SIGTERM, cancel the runs first: a run's live event stream does not end by itself, and
    uvicorn waits for open responses before it shuts down. Cancelled, each stream sends its `lane_done` /
    `done` ("server shutting down") and closes, so the server exits at once, and clients see why."""

    def __init__(self, config: uvicorn.Config, app):
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig, frame) -> None:
        runs = getattr(self.app.state, "runs", None)  # the lifespan has started (app/main.py)
        if runs is not None:
            runs.cancel_all()
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="rnnlab", description="RNN Gradient Lab")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the dashboard and the REST API")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.port)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    args = parser.parse_args(argv)
    # a stream that still does not end (a client that reads nothing) is closed after the grace period
    options = {"host": args.host, "port": args.port, "timeout_graceful_shutdown": settings.shutdown_grace_seconds}
    if args.reload:  # uvicorn's reloader serves from a subprocess of its own: no graceful cancel there
        uvicorn.run("app.main:app", reload=True, **options)
        return
    from app.main import app

    try:
        GracefulServer(uvicorn.Config(app, **options), app).run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; uvicorn.run swallows it too
        pass


if __name__ == "__main__":
    main()
