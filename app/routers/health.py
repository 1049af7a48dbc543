from fastapi import APIRouter

import rnncore

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/health", summary="Liveness check")
def health() -> dict:
    return {"status": "ok", "version": rnncore.__version__}
