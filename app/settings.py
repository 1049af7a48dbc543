"""Service settings, read from the environment (prefix ``RNNLAB_``), e.g. ``RNNLAB_MAX_CONCURRENT_RUNS=8``."""
import os
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RNNLAB_")

    host: str = "127.0.0.1"
    port: int = 8000
    # On Ctrl-C / SIGTERM, open event streams (a run's live stream does not end by itself) get this long
    # before they are closed, the runs cancelled and their workers stopped.
    shutdown_grace_seconds: float = Field(3.0, ge=0)

    # Runs service (app/runs.py); the README's "Settings" table documents each one.
    max_concurrent_runs: int = Field(4, ge=1)  # runs training at once; beyond: 429 + Retry-After
    max_work: float = Field(5e11, gt=0)  # cap on the lanes' summed app.runs.work (~50 s of one core)
    max_state_values: float = Field(4e7, gt=0)  # cap on sum(L * batch_size * hidden_size * gates): memory
    profile_max_work: float = Field(1e9, gt=0)  # cap on app.runs.work of one step
    max_arrays_per_lane: int = Field(200, ge=1)  # a lane sends per-timestep arrays on ~this many steps
    cancel_grace_seconds: float = Field(5.0, ge=0)  # a run without SSE clients pauses, then is cancelled
    store_max_runs: int = Field(32, ge=1)  # finished runs kept (LRU), then 404
    store_max_bytes: int = Field(128 * 2**20, ge=1)  # approximate bytes of finished runs kept (LRU)
    sse_ping_seconds: float = Field(15.0, gt=0)  # keep-alive comment on idle event streams
    # responses that send a run's events at once (event streams, GET /api/runs/{id} with its history, exports),
    # up to ~3 MB each while a client drains a long run's replay; beyond: 429 + Retry-After
    max_streams: int = Field(64, ge=1)
    # a stream whose client reads nothing for this long is closed, so stalled clients cannot hold every slot
    stream_stall_seconds: float = Field(30.0, gt=0)
    gradcheck_max_pending: int = Field(4, ge=1)  # /api/gradcheck calls queued or computing; beyond: 429
    profile_max_pending: int = Field(8, ge=1)  # /api/profile calls queued or computing; beyond: 429
    # /api/loss-surface calls queued or computing in the engine pool (each up to ~50 ms of CPU); beyond: 429
    loss_surface_max_pending: int = Field(4, ge=1)
    # processes computing /api/profile and /api/gradcheck calls at once (the page sends one per lane)
    engine_processes: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    blas_threads: int = Field(1, ge=1)  # BLAS threads per process; runs train in parallel processes
    max_body_bytes: int = Field(256 * 1024, ge=1024)  # request bodies above: 413 (a valid one is a few KB)
    worker_nice: int = Field(10, ge=0, le=19)  # OS niceness of training worker processes (server stays at 0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
