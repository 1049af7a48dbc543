"""``rnnlab serve [--host --port --reload]``: run the dashboard and API with uvicorn."""
import argparse
import contextlib
import sys

import uvicorn
from uvicorn.supervisors import ChangeReload

from app.settings import get_settings


class GracefulServer(uvicorn.Server):
    """On Ctrl-C / SIGTERM, cancel the runs first: a run's live event stream does not end by itself, and
    uvicorn waits for open responses before it shuts down. Cancelled, each stream sends its `lane_done` /
    `done` ("server shutting down") and closes, so the server exits at once, and clients see why.

    The app is looked up when the signal comes, not held: with ``--reload`` this server is pickled into
    uvicorn's reloader subprocess, which imports app.main itself."""

    def handle_exit(self, sig, frame) -> None:
        main = sys.modules.get("app.main")
        runs = getattr(main.app.state, "runs", None) if main is not None else None  # set by the lifespan
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
    if args.reload:  # uvicorn.run's reload path, with this server in the subprocess it restarts
        config = uvicorn.Config("app.main:app", reload=True, **options)
        server = GracefulServer(config)
        with contextlib.suppress(KeyboardInterrupt):
            ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
        return
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
        GracefulServer(uvicorn.Config("app.main:app", **options)).run()


if __name__ == "__main__":
    main()
