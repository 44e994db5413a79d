"""Auto-close settings and the run's order of visit, without a store (sockets off)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ticketing.models.records import DEFAULT_AUTO_CLOSE_AFTER_SECONDS, WorkspaceSettings
from ticketing.models.workspace import UpdateWorkspaceSettingsCommand
from ticketing.repository.auto_close import Checkpoint, DuePage
from ticketing.repository.workspaces import RegistryPage
from ticketing.services.auto_close import AutoCloseReport, run_auto_close

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


# ---------------------------------------------------------------------------- settings
def test_auto_close_defaults_to_48_hours():
    # GIVEN a workspace with no auto-close setting
    # WHEN its settings are built
    # THEN the threshold is 48 h
    assert WorkspaceSettings(workspace_id="w").auto_close_after_seconds == 48 * 3600
    assert DEFAULT_AUTO_CLOSE_AFTER_SECONDS == 48 * 3600


@pytest.mark.parametrize(
    ("given", "stored"), [(0, None), (None, None), (900, 900), (2592000, 2592000)]
)
def test_auto_close_accepted(given, stored):
    # GIVEN a threshold in range, null or 0
    # WHEN settings are built with it
    # THEN it is kept (0 means off, stored as null)
    assert (
        WorkspaceSettings(workspace_id="w", auto_close_after_seconds=given).auto_close_after_seconds
        == stored
    )


@pytest.mark.parametrize("given", [1, 899, 2592001, -900])
def test_auto_close_rejected(given):
    # GIVEN a threshold out of range
    # WHEN settings are built with it
    # THEN validation names the field
    with pytest.raises(ValidationError, match="auto_close_after_seconds"):
        WorkspaceSettings(workspace_id="w", auto_close_after_seconds=given)


def test_update_command_changes_exactly_the_given_keys():
    # GIVEN PATCH bodies
    # WHEN parsed
    # THEN only given keys change; 0 is off; null is kept as an explicit "off"
    assert UpdateWorkspaceSettingsCommand.model_validate(
        {"auto_close_after_seconds": 0}
    ).changes() == {"auto_close_after_seconds": None}
    assert UpdateWorkspaceSettingsCommand.model_validate(
        {"reopen_window_seconds": None, "auto_close_after_seconds": 3600}
    ).changes() == {"reopen_window_seconds": None, "auto_close_after_seconds": 3600}


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"reopen_window_seconds": 30}])
def test_update_command_rejects(body):
    # GIVEN an empty, unknown or out-of-range change
    # WHEN parsed
    # THEN it is refused
    with pytest.raises(ValidationError):
        UpdateWorkspaceSettingsCommand.model_validate(body)


# ---------------------------------------------------------------------------- order of visit
class FakeRegistry:
    def __init__(self, ids: list[str], settings: dict[str, Any] | None = None) -> None:
        self.ids, self.settings = sorted(ids), settings or {}

    def list_workspaces(self, *, limit, start_key=None, from_id=None, before_id=None):
        ids = [
            i
            for i in self.ids
            if (from_id is None or i >= from_id) and (before_id is None or i < before_id)
        ]
        start = ids.index(start_key["id"]) + 1 if start_key else 0
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        return RegistryPage(page, {"id": page[-1]} if more else None)

    def get_settings_batch(self, ids):
        return {i: WorkspaceSettings(workspace_id=i, **self.settings.get(i, {})) for i in ids}


class FakeStore:
    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.checkpoint, self.visits, self.saved, self.cleared = checkpoint, [], None, False

    def get_checkpoint(self):
        return self.checkpoint

    def due_tickets(self, workspace_id, cutoff, *, limit, start_key):
        self.visits.append((workspace_id, start_key))
        return DuePage([], None)

    def save_checkpoint(self, checkpoint, *, now):
        self.saved = checkpoint

    def clear_checkpoint(self):
        self.cleared = True


def test_a_run_starts_at_the_checkpoint_and_wraps_around():
    # GIVEN five workspaces (pages of two), one with auto-close off, and a checkpoint inside w3
    registry = FakeRegistry(
        ["w1", "w2", "w3", "w4", "w5"], {"w4": {"auto_close_after_seconds": None}}
    )
    store = FakeStore(Checkpoint("w3", {"pk": {"S": "x"}}))
    # WHEN a run has time for everything
    report = run_auto_close(registry, store, now=NOW, time_left_ms=lambda: 60_000, workspace_page=2)
    # THEN it resumed w3 at its position, went on to the end, wrapped to w1, w2, and cleared the
    # checkpoint
    assert store.visits == [("w3", {"pk": {"S": "x"}}), ("w5", None), ("w1", None), ("w2", None)]
    assert report == AutoCloseReport(workspaces=4)
    assert store.cleared is True
    assert store.saved is None


def test_the_reserve_is_at_most_a_fifth_of_the_time_the_run_started_with():
    # GIVEN an invocation with 10 s left that drops under 2 s after the first workspace
    registry = FakeRegistry(["w1", "w2"])
    store = FakeStore()
    left = iter([10_000, 9_000, 9_000, 9_000, 1_999, 1_999])
    # WHEN the run goes
    report = run_auto_close(registry, store, now=NOW, time_left_ms=lambda: next(left, 0))
    # THEN it did w1 (10 s is not "out of time" although under 15 s) and saved w2 for later
    assert [w for w, _ in store.visits] == ["w1"]
    assert report.stopped_early is True
    assert store.saved == Checkpoint("w2", None)
