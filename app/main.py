"""Application factory: ``create_app()`` wires routers, static files and the lifespan."""
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import rnncore
from app.paths import STATIC_DIR
from app.routers import health, pages
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        yield

    app = FastAPI(title="RNN Gradient Lab", version=rnncore.__version__, lifespan=lifespan,
                  description="Train small NumPy RNNs and stream ||dL/dh_t|| per timestep, live.")
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = create_app()
