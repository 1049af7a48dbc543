"""Service settings, read from the environment (prefix ``RNNLAB_``), e.g. ``RNNLAB_MAX_RUNS=8``."""
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RNNLAB_")

    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    return Settings()
