"""The dashboard page and its static files (Plotly.js from the installed plotly package, no CDN)."""
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from app.paths import STATIC_DIR, TEMPLATES_DIR

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)

PLOTLY_URL = "/vendor/plotly.min.js"
# The URL carries the plotly version, so the file can be cached for a year and still refresh on upgrade.
PLOTLY_CACHE_CONTROL = "public, max-age=31536000, immutable"


@lru_cache
def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly wheel (``plotly/package_data/plotly.min.js``)."""
    with resources.as_file(resources.files("plotly") / "package_data" / "plotly.min.js") as path:
        return Path(path)


@lru_cache
def plotly_version() -> str:
    return metadata.version("plotly")


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    context = {
        "plotly_src": f"{PLOTLY_URL}?v={plotly_version()}",
        # The loss-surface panel module is optional: the page only imports it when the file exists.
        "cliff_available": (STATIC_DIR / "js" / "cliff.js").is_file(),
    }
    return templates.TemplateResponse(request, "index.html", context)


@router.get(PLOTLY_URL)
def plotly_js() -> FileResponse:
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": PLOTLY_CACHE_CONTROL})
