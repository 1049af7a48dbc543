"""Application factory: ``create_app()`` wires routers, static files and the lifespan."""
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

import rnncore
from app import errors
from app.bodylimit import BodyLimitMiddleware
from app.paths import STATIC_DIR
from app.routers import cliff as loss_surface
from app.routers import docs, engine, health, options, pages, runs
from app.runs import RunManager
from app.schemas import whole_integer_bounds
from app.security import SecurityHeadersMiddleware
from app.settings import Settings, get_settings
from app.streaming import StreamSlots


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.runs = RunManager(settings)  # training runs; cancelled and joined on shutdown
        app.state.streams = StreamSlots(settings.max_streams)  # event streams and downloads open at once
        yield
        app.state.runs.shutdown()

    app = FastAPI(title="RNN Gradient Lab", version=rnncore.__version__, lifespan=lifespan,
                  description="Train small NumPy RNNs and stream ||dL/dh_t|| per timestep, live.",
                  # /docs and /redoc come from app.routers.docs, with their JS/CSS served locally (no CDN)
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  # POST /api/runs/ was a 307 to an absolute URL built from the Host header; now a JSON 404 naming
                  # the route (app.errors.on_http_error)
                  redirect_slashes=False)
    build_openapi = app.openapi

    def openapi() -> dict:
        """FastAPI's document (built once, then cached), its integer bounds as integers: FastAPI's OpenAPI
        model keeps them as floats ("maximum": 512.0 for hidden_size)."""
        if app.openapi_schema is None:
            whole_integer_bounds(build_openapi())
        return app.openapi_schema

    app.openapi = openapi
    for module in (health, loss_surface, options, runs, engine, pages, docs):
        answer_head_like_get(module.router, except_paths={runs.EVENTS_PATH})
    strict_query = [Depends(errors.forbid_unknown_query)]  # the API's routes, not the page's (its URL state)
    app.include_router(health.router)  # a liveness probe answers whatever a monitor appends (e.g. ?_=<time>)
    app.include_router(loss_surface.router, dependencies=strict_query)  # GET /api/loss-surface (the cliff, issue 6)
    app.include_router(options.router, dependencies=strict_query)
    app.include_router(runs.router, dependencies=strict_query)
    app.include_router(engine.router, dependencies=strict_query)
    errors.install(app)  # every error is JSON with a human "message"
    app.include_router(pages.router)
    app.include_router(docs.router)  # /docs, /redoc and their assets
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")  # StaticFiles answers HEAD itself
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)  # 413 before a huge body is read
    app.add_middleware(SecurityHeadersMiddleware)  # CSP: the page loads only from its own origin (outermost)
    return app


def answer_head_like_get(router: APIRouter, except_paths: set[str]) -> None:
    """Every GET route also answers HEAD (RFC 9110 9.3.2: uptime checks and link checkers send it), with the
    GET's status and headers and no body (uvicorn drops it); FastAPI's routes do not (fastapi#1773). The
    HEAD twins stay out of the OpenAPI schema. ``except_paths``: the event stream, where a HEAD would
    attach as a listener and keep a run alive. Idempotent (a router shared by several apps)."""
    heads = {route.path for route in router.routes if isinstance(route, APIRoute) and "HEAD" in route.methods}
    for route in list(router.routes):
        if (isinstance(route, APIRoute) and "GET" in route.methods and route.path not in except_paths
                and route.path not in heads):
            router.add_api_route(route.path.removeprefix(router.prefix), route.endpoint, methods=["HEAD"],
                                 include_in_schema=False, name=f"{route.name}_head",
                                 response_class=route.response_class, response_model=route.response_model,
                                 status_code=route.status_code, dependencies=route.dependencies)


app = create_app()
