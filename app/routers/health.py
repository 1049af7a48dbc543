from fastapi import APIRouter

import rnncore

router = APIRouter(prefix="/api", tags=["service"])


# async: answered on the event loop itself, no thread hop, so it stays fast while runs train
@router.get("/health", summary="Liveness check")
async def health() -> dict:
    return {"status": "ok", "version": rnncore.__version__}
