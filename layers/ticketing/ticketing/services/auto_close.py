"""Scheduled auto-close: close open tickets inactive longer than their workspace's threshold.

One run visits the registered workspaces in registry order, starting where the previous run stopped
(the checkpoint) and wrapping around, so a workspace with a huge backlog cannot starve the others.
Per workspace with auto-close on: its due tickets, oldest activity first, a page at a time; each is
closed by the guarded ``leave_open`` transaction, conditional on the version and activity the Query
saw. A ticket that got a message (or an agent's change) meanwhile stays open: the guard fails,
nothing is written, and it is counted as ``changed``. The run stops before the time left falls
under ``reserve_ms`` and saves where it was; closed tickets leave the open list (once the view
projector has seen the close), so the next run simply continues. Candidates come from the open
list's view entries, which can be behind their tickets: the guard decides. A ticket whose close
keeps failing is stepped over (the Query pages past it), so it can never hold up the tickets behind
it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from ticketing import ids
from ticketing.errors import StorageUnavailableError
from ticketing.models.records import HistoryEvent, TicketStatus, WorkspaceSettings
from ticketing.repository.auto_close import AutoCloseStore, Checkpoint, DueTicket, IndexKey
from ticketing.repository.base import GuardFailedError
from ticketing.repository.workspaces import WorkspaceStore

ACTOR = "auto-close"
TICKET_PAGE = 50
WORKSPACE_PAGE = 100
RESERVE_MS = 15_000  # stop with this much of the invocation left (a slow call retries ~12 s)
RESERVE_SHARE = 5  # ... but never more than a fifth of the time the run started with


@dataclass
class AutoCloseReport:
    workspaces: int = 0  # workspaces visited with auto-close on
    due: int = 0  # due tickets looked at
    closed: int = 0
    changed: int = 0  # the ticket moved on since the Query (a message, an agent): left open
    failed: int = 0  # the store failed on the close: retried on a later run
    stopped_early: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


@dataclass(frozen=True)
class _Stop:
    position: IndexKey | None


def history_for(due: DueTicket, now: datetime) -> HistoryEvent:
    ticket = due.ticket
    since = due.activity
    return HistoryEvent(
        workspace_id=ticket.workspace_id,
        ticket_id=ticket.ticket_id,
        event_id=ids.ulid(),
        event="closed",
        actor=ACTOR,
        at=now,
        from_status=TicketStatus.OPEN,
        to_status=TicketStatus.CLOSED,
        detail=f"closed by automation (inactive since {since})",
    )


class _Run:
    def __init__(
        self,
        workspaces: WorkspaceStore,
        store: AutoCloseStore,
        *,
        now: datetime,
        time_left_ms: Callable[[], int],
        reserve_ms: int,
        ticket_page: int,
    ) -> None:
        self.workspaces = workspaces
        self.store = store
        self.now = now
        self.time_left_ms = time_left_ms
        self.reserve_ms = reserve_ms
        self.ticket_page = ticket_page
        self.report = AutoCloseReport()

    def out_of_time(self) -> bool:
        return self.time_left_ms() < self.reserve_ms

    def workspace(self, settings: WorkspaceSettings, start: IndexKey | None) -> _Stop | None:
        """Close the workspace's due tickets from ``start``; a _Stop when time ran out."""
        threshold = settings.auto_close_after_seconds
        if threshold is None:
            return None
        self.report.workspaces += 1
        cutoff = self.now - timedelta(seconds=threshold)
        position = start
        while True:
            if self.out_of_time():
                return _Stop(position)
            page = self.store.due_tickets(
                settings.workspace_id, cutoff, limit=self.ticket_page, start_key=position
            )
            for due in page.tickets:
                if self.out_of_time():
                    return _Stop(position)
                self.close(due)
                position = due.position
            if page.last_key is None:
                return None
            position = page.last_key

    def close(self, due: DueTicket) -> None:
        self.report.due += 1
        try:
            self.store.close(due, history=history_for(due, self.now), now=self.now)
        except GuardFailedError:
            self.report.changed += 1
        except StorageUnavailableError:
            self.report.failed += 1
        else:
            self.report.closed += 1


def run_auto_close(
    workspaces: WorkspaceStore,
    store: AutoCloseStore,
    *,
    now: datetime,
    time_left_ms: Callable[[], int],
    reserve_ms: int | None = None,
    ticket_page: int = TICKET_PAGE,
    workspace_page: int = WORKSPACE_PAGE,
) -> AutoCloseReport:
    """One scheduled run (see the module docstring). ``time_left_ms`` is the Lambda context's
    ``get_remaining_time_in_millis``; the run stops once less than ``reserve_ms`` is left
    (default: RESERVE_MS, or a fifth of the time it started with if that is less)."""
    if reserve_ms is None:
        reserve_ms = min(RESERVE_MS, time_left_ms() // RESERVE_SHARE)
    run = _Run(
        workspaces,
        store,
        now=now,
        time_left_ms=time_left_ms,
        reserve_ms=reserve_ms,
        ticket_page=ticket_page,
    )
    checkpoint = store.get_checkpoint()
    # from the checkpoint to the end of the registry, then from its start up to the checkpoint
    legs: list[dict[str, str]] = (
        [{"from_id": checkpoint.workspace_id}, {"before_id": checkpoint.workspace_id}]
        if checkpoint
        else [{}]
    )
    for leg in legs:
        start_key: IndexKey | None = None
        while True:
            page = workspaces.list_workspaces(limit=workspace_page, start_key=start_key, **leg)
            settings = workspaces.get_settings_batch(page.workspace_ids)
            for workspace_id in page.workspace_ids:
                resume = (
                    checkpoint.position
                    if checkpoint and workspace_id == checkpoint.workspace_id
                    else None
                )
                stop = (
                    _Stop(resume)
                    if run.out_of_time()
                    else run.workspace(settings[workspace_id], resume)
                )
                if stop is not None:
                    store.save_checkpoint(Checkpoint(workspace_id, stop.position), now=now)
                    run.report.stopped_early = True
                    return run.report
            if page.last_key is None:
                break
            start_key = page.last_key
    if checkpoint is not None:
        store.clear_checkpoint()
    return run.report
