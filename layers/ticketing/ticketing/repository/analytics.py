"""DynamoDB access of ticket analytics (README "Ticket events and analytics").

- ``apply`` writes one consumed event's effects in ONE TransactWriteItems: the event's processed
  marker (a Put guarded by ``attribute_not_exists``: a redelivered event changes nothing), the ADDs
  on the per-day counter items and on the open-now item, and the ticket's metrics guarded by the
  exact values the caller read (so two events of one ticket never overwrite each other's result).
- ``summary`` reads a workspace's counters: one GetItem (open now) + one Query (the days of the
  range, ≤ 92 small items): its cost follows the range, never the number of tickets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ticketing.clock import to_ms
from ticketing.repository import keys
from ticketing.repository.dynamodb import (
    DynamoTicketRepository,
    Item,
    from_dynamo,
    get_repository,
    to_dynamo,
)

Outcome = Literal["applied", "duplicate", "unchanged", "ticket_changed", "conflict"]
# Ticket attributes the analytics consumer owns (never written by the ticket's own write paths).
TICKET_METRIC_ATTRIBUTES = (
    "counted_open",
    "first_response_at",
    "first_response_seconds",
    "resolved_at",
    "resolution_seconds",
)


@dataclass(frozen=True)
class TicketState:
    """What the consumer reads of a ticket: its immutable creation time, its status now, and
    the metrics it wrote before (raw stored values: the write is guarded on exactly these)."""

    created_at: datetime
    status: str
    metrics: dict[str, Any]


@dataclass
class AnalyticsChange:
    """One event's effects. ``ticket_set`` is guarded by ``ticket_seen`` (attribute → the value
    read, None = absent)."""

    workspace_id: str
    ticket_id: str
    idempotency_key: str
    now: datetime
    days: dict[str, dict[str, int]] = field(default_factory=dict)
    open_delta: int = 0
    ticket_set: dict[str, Any] = field(default_factory=dict)
    ticket_seen: dict[str, Any] = field(default_factory=dict)

    def add(self, day: str, attribute: str, delta: int) -> None:
        counters = self.days.setdefault(day, {})
        counters[attribute] = counters.get(attribute, 0) + delta

    @property
    def empty(self) -> bool:
        """Nothing to count or set (assigned, labels, notes … of a ticket already reconciled):
        nothing is written, not even the marker."""
        moved = any(delta for counters in self.days.values() for delta in counters.values())
        return not (moved or self.open_delta or self.ticket_set)


class AnalyticsRepository:
    def __init__(self, base: DynamoTicketRepository) -> None:
        self._base = base
        self._table = base.table_name

    def ticket_state(self, workspace_id: str, ticket_id: str) -> TicketState | None:
        response = self._base._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.ticket_key(workspace_id, ticket_id)),
            ConsistentRead=True,
            ProjectionExpression="created_at, #status, " + ", ".join(TICKET_METRIC_ATTRIBUTES),
            ExpressionAttributeNames={"#status": "status"},
        )
        item = response.get("Item")
        if not item:
            return None
        plain = from_dynamo(item)
        return TicketState(
            created_at=datetime.fromisoformat(str(plain.pop("created_at"))),
            status=str(plain.pop("status")),
            metrics=plain,
        )

    def apply(self, change: AnalyticsChange) -> Outcome:
        ws = change.workspace_id
        marker = to_dynamo(
            {
                **keys.analytics_marker_key(ws, change.idempotency_key),
                "type": "analytics_marker",
                "processed_at": change.now.isoformat().replace("+00:00", "Z"),
                keys.TTL_ATTRIBUTE: to_ms(
                    change.now + timedelta(days=keys.ANALYTICS_MARKER_TTL_DAYS)
                )
                // 1000,
            }
        )
        items: list[tuple[str, Item]] = [
            ("marker", self._base._put(marker, "attribute_not_exists(pk)"))
        ]
        for day, counters in sorted(change.days.items()):
            moved = {k: v for k, v in counters.items() if v}
            if moved:
                items.append((f"day:{day}", self._add(keys.analytics_day_key(ws, day), moved)))
        if change.open_delta:
            items.append(
                ("open", self._add(keys.analytics_open_key(ws), {"open_count": change.open_delta}))
            )
        if change.ticket_set:
            items.append(("ticket", self._ticket_update(change)))
        failed = self._base._transact(items)
        if not failed:
            return "applied"
        if failed.get("marker") == "ConditionalCheckFailed":
            return "duplicate"
        if failed.get("ticket") == "ConditionalCheckFailed":
            return "ticket_changed"
        return "conflict"

    def _add(self, key: Mapping[str, str], counters: Mapping[str, int]) -> Item:
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": delta for i, delta in enumerate(counters.values())}
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(key),
                "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(names))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_dynamo(values),
            }
        }

    def _ticket_update(self, change: AnalyticsChange) -> Item:
        names = {f"#s{i}": k for i, k in enumerate(change.ticket_set)}
        values = {f":s{i}": v for i, v in enumerate(change.ticket_set.values())}
        guards = ["attribute_exists(pk)"]
        for i, (attribute, seen) in enumerate(change.ticket_seen.items()):
            names[f"#g{i}"] = attribute
            if seen is None:
                guards.append(f"attribute_not_exists(#g{i})")
            else:
                guards.append(f"#g{i} = :g{i}")
                values[f":g{i}"] = seen
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_dynamo(keys.ticket_key(change.workspace_id, change.ticket_id)),
                "UpdateExpression": "SET "
                + ", ".join(f"#s{i} = :s{i}" for i in range(len(change.ticket_set))),
                "ConditionExpression": " AND ".join(guards),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_dynamo(values),
            }
        }

    # ------------------------------------------------------------------ reads
    def open_now(self, workspace_id: str) -> int:
        response = self._base._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.analytics_open_key(workspace_id)),
        )
        item = from_dynamo(response.get("Item") or {})
        return int(item.get("open_count", 0))

    def day_counters(self, workspace_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """{YYYY-MM-DD: counters} of the days in [first, last] that have any (one Query; a
        second page only past 1 MB, which 92 day items never reach)."""
        out: dict[str, dict[str, int]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_dynamo(
                {
                    ":pk": keys.analytics_partition(workspace_id),
                    ":first": keys.ANALYTICS_DAY_PREFIX + first,
                    ":last": keys.ANALYTICS_DAY_PREFIX + last,
                }
            ),
        }
        while True:
            response = self._base._call("query", **kwargs)
            for raw in response.get("Items", []):
                item = from_dynamo(raw)
                day = str(item.pop(keys.SK)).removeprefix(keys.ANALYTICS_DAY_PREFIX)
                item.pop(keys.PK, None)
                out[day] = {k: int(v) for k, v in item.items() if isinstance(v, int | float)}
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return out
            kwargs["ExclusiveStartKey"] = last_key


def get_analytics_repository() -> AnalyticsRepository:
    return AnalyticsRepository(get_repository())
