"""Runtime settings, read from the environment once, on first use (never at import)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Environment of every Ticket Engine function; names match template.yaml's variables."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=3)
    meta_app_id: str = Field(default="0", alias="META_APP_ID")
    meta_verify_token_ref: str | None = Field(default=None, alias="META_VERIFY_TOKEN_REF")
    local_secrets_file: str | None = Field(default=None, alias="LOCAL_SECRETS_FILE")
    secrets_max_age_seconds: int = Field(default=300, alias="SECRETS_MAX_AGE_SECONDS", ge=0)
    connection_cache_seconds: int = Field(default=60, alias="CONNECTION_CACHE_SECONDS", ge=0)
    max_webhook_body_bytes: int = Field(default=4 * 1_048_576, alias="MAX_WEBHOOK_BODY_BYTES", gt=0)
    # Outbound delivery (issue 8): the channels' API base URLs (tests point them at a local fake),
    # the per-call timeout, and the SQS receives after which a send is failed (= maxReceiveCount).
    meta_graph_base_url: str = Field(
        default="https://graph.facebook.com/v21.0", alias="META_GRAPH_BASE_URL"
    )
    line_api_base_url: str = Field(default="https://api.line.me", alias="LINE_API_BASE_URL")
    # (Shopee/Lazada base URLs: SHOPEE_API_BASE_URL / LAZADA_API_BASE_URL below, shared)
    channel_api_timeout_seconds: float = Field(
        default=8.0, alias="CHANNEL_API_TIMEOUT_SECONDS", gt=0, le=60
    )
    outbox_max_receives: int = Field(default=5, alias="OUTBOX_MAX_RECEIVES", ge=1, le=100)
    # Channel Open Platform gateways (review pull, outbound sends); tests point them at fake servers
    shopee_api_base_url: str = Field(
        default="https://partner.shopeemobile.com", alias="SHOPEE_API_BASE_URL"
    )
    lazada_api_base_url: str = Field(
        default="https://api.lazada.com/rest", alias="LAZADA_API_BASE_URL"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
