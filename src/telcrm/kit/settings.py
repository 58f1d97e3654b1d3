"""Typed settings, read once from the environment (prefix ``TELCRM_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELCRM_", extra="ignore")

    # Any PostgreSQL 15+ URL; unset means "start the embedded server in data_dir".
    database_url: str | None = None
    data_dir: Path = Path(".telcrm")
    environment: str = Field(default="development", pattern="^(development|test|production)$")
    # Public base URL used to build hrefs in events sent to hub listeners.
    base_url: str = "http://127.0.0.1:8000"
    default_page_size: int = Field(default=20, ge=1, le=1000)
    max_page_size: int = Field(default=1000, ge=1, le=10000)
    db_pool_size: int = Field(default=16, ge=1, le=200)
    # Connections each server process opens at start (transactions; half as many for reads), so
    # that no request waits for a new database session, at most as many as the pool keeps (one and
    # a half times db_pool_size); `telcrm serve` opens all of those.
    db_pool_warm: int = Field(default=0, ge=0, le=200)
    # Event delivery to hub listeners.
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    sweeper_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    run_dispatcher: bool = True
    # Order fulfilment (ADR 9): where work orders go ({url}/{domain}/workOrders), how often a
    # temporarily failed work order is tried again, when one sent but unanswered is sent again.
    provisioning_url: str = "http://127.0.0.1:8100"
    work_order_max_attempts: int = Field(default=3, ge=1, le=20)
    work_order_resend_seconds: float = Field(default=600.0, gt=0, le=86400)
    work_order_batch: int = Field(default=500, ge=1, le=5000)
    # After a commit wakes the sender, it waits this long so that the work orders of commits close
    # together go out in one claim and one post (ADR 10): a little latency for much less CPU.
    work_order_linger_seconds: float = Field(default=0.05, ge=0, le=5)
    # Seconds an authenticated token stays cached in-process (revocation delay).
    auth_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # The only directory TMF620 import and export jobs read and write (ADR 14); unset: <data_dir>/jobs.
    job_dir: Path | None = None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if not self.database_url:
                raise ValueError("production needs TELCRM_DATABASE_URL; the embedded server is for development")
            if self.base_url.startswith("http://127.0.0.1"):
                raise ValueError("production needs TELCRM_BASE_URL set to the public address")
        return self

    @property
    def jobs_dir(self) -> Path:
        return (self.job_dir or self.data_dir / "jobs").absolute()

    @property
    def is_embedded(self) -> bool:
        return not self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
