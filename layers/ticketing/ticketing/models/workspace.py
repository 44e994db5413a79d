"""Workspace settings as the agent API shows and changes them (``/workspace/settings``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ticketing.models.records import (
    MAX_AUTO_CLOSE_AFTER_SECONDS,
    MAX_REOPEN_WINDOW_SECONDS,
    MIN_AUTO_CLOSE_AFTER_SECONDS,
    MIN_REOPEN_WINDOW_SECONDS,
    WorkspaceSettings,
)

# The settings an admin may change (a key left out keeps its value; null switches it off).
SETTABLE = ("reopen_window_seconds", "auto_close_after_seconds")


class WorkspaceSettingsResponse(BaseModel):
    workspace_id: str
    reopen_window_seconds: int | None = Field(
        description="Closed tickets reopen on a customer message within this window; null = off."
    )
    auto_close_after_seconds: int | None = Field(
        description="Open tickets inactive this long are closed by automation; null = off."
    )
    version: int = Field(
        description="Changes with every update: send it as If-Match to update only that version."
    )

    @classmethod
    def of(cls, settings: WorkspaceSettings, version: int) -> WorkspaceSettingsResponse:
        return cls(
            workspace_id=settings.workspace_id,
            reopen_window_seconds=settings.reopen_window_seconds,
            auto_close_after_seconds=settings.auto_close_after_seconds,
            version=version,
        )


class UpdateWorkspaceSettingsCommand(BaseModel):
    """PATCH: only the keys given change; ``null`` (or 0 for auto-close) switches a setting off."""

    model_config = ConfigDict(extra="forbid")

    reopen_window_seconds: int | None = Field(
        default=None,
        description=(
            f"{MIN_REOPEN_WINDOW_SECONDS}..{MAX_REOPEN_WINDOW_SECONDS} seconds, or null (off)"
        ),
    )
    auto_close_after_seconds: int | None = Field(
        default=None,
        description=(
            f"{MIN_AUTO_CLOSE_AFTER_SECONDS}..{MAX_AUTO_CLOSE_AFTER_SECONDS} seconds,"
            " or null / 0 (off)"
        ),
    )

    @field_validator("reopen_window_seconds")
    @classmethod
    def _window(cls, value: int | None) -> int | None:
        if value is not None and not (
            MIN_REOPEN_WINDOW_SECONDS <= value <= MAX_REOPEN_WINDOW_SECONDS
        ):
            raise ValueError("reopen window must be between 1 minute and 7 days, or null (off)")
        return value

    @field_validator("auto_close_after_seconds")
    @classmethod
    def _auto_close(cls, value: int | None) -> int | None:
        if value == 0:
            return None
        if value is not None and not (
            MIN_AUTO_CLOSE_AFTER_SECONDS <= value <= MAX_AUTO_CLOSE_AFTER_SECONDS
        ):
            raise ValueError("auto-close threshold must be between 15 minutes and 30 days, or null")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateWorkspaceSettingsCommand:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(SETTABLE)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The settings to write: exactly the keys the request gave."""
        return {key: getattr(self, key) for key in SETTABLE if key in self.model_fields_set}
