"""Application factory: ``create_app()`` wires routers, static files and the lifespan."""
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import rnncore
from app import errors
from app.paths import STATIC_DIR
from app.routers import cliff as loss_surface
from app.routers import docs, engine, health, options, pages, runs
from app.runs import RunManager
from app.security import SecurityHeadersMiddleware
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.runs = RunManager(settings)  # training runs; cancelled and joined on shutdown
        yield
        app.state.runs.shutdown()

    app = FastAPI(title="RNN Gradient Lab", version=rnncore.__version__, lifespan=lifespan,
                  description="Train small NumPy RNNs and stream ||dL/dh_t|| per timestep, live.",
                  # /docs and /redoc come from app.routers.docs, with their JS/CSS served locally (no CDN)
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    app.include_router(health.router)
    app.include_router(loss_surface.router)  # GET /api/loss-surface (the cliff, issue 6)
    app.include_router(options.router)
    app.include_router(runs.router)
    app.include_router(engine.router)
    errors.install(app)  # every error is JSON with a human "message"
    app.include_router(pages.router)
    app.include_router(docs.router)  # /docs, /redoc and their assets
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware)  # CSP: the page loads only from its own origin
    return app


app = create_app()
