"""Exact DynamoDB cost of whatever runs on a boto3 client: requests and consumed capacity.

    with CapacityMeter(client) as meter:
        handler(event, context)
    meter.operations      # ["BatchGetItem", "TransactWriteItems"]
    meter.write_units     # 10.0 (table + indexes)
    meter.by_target()     # {"table": 6.0, "gsi1": 2.0, "gsi2": 4.0}

While the meter is active, a botocore ``provide-client-params`` hook adds
``ReturnConsumedCapacity=INDEXES`` to every call that accepts it (a value the caller passed is
kept), and ``after-call`` / ``after-call-error`` hooks record each request with its
``ConsumedCapacity`` (a dict, or a list for TransactWriteItems / BatchGetItem / BatchWriteItem),
how many items it wrote or keys it read, and its parameters and answer (for ``bench.aws_units``).
On exit the hooks are removed, so the client behaves exactly as before. Thread-safe.
``CapacityMeter(client, capacity=False)`` only counts requests and leaves them unchanged.

Capacity comes from the per-target breakdown (``Table`` and each global/local secondary index);
the top-level ``CapacityUnits`` is their sum and is used only when no breakdown is returned. When a
target reports ``ReadCapacityUnits``/``WriteCapacityUnits`` (provisioned tables) those are used;
otherwise ``CapacityUnits`` counts as read or write by the kind of operation. A request that fails
(a cancelled transaction, a failed condition) is counted as a request; DynamoDB Local returns no
consumed capacity for it.

``RequestTimer`` (below) times each DynamoDB call the same way.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

READ_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement"}
)
_ids = itertools.count()


@dataclass(frozen=True)
class Request:
    """One DynamoDB API call as the meter saw it."""

    operation: str
    read_units: float
    write_units: float
    by_target: dict[str, float]  # "table", or an index name → capacity units
    error: str | None = None  # the error code when the call failed
    retries: int = 0  # botocore's retry attempts inside this call
    items: int = 1  # items written or keys read: TransactItems, batch requests, batch keys
    # the call's parameters and parsed answer (kept when the meter asks for capacity)
    params: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    response: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "items": self.items,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "by_target": dict(self.by_target),
            "error": self.error,
            "retries": self.retries,
        }


@dataclass
class CapacityMeter:
    """Counts the requests and capacity units of a boto3 DynamoDB client while active."""

    client: Any
    capacity: bool = True  # False: count requests only, leave the requests as they are
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._uid = f"capacity-meter-{next(_ids)}"
        self._local = threading.local()

    # ------------------------------------------------------------------ hooks
    def __enter__(self) -> Self:
        events = self.client.meta.events
        events.register(
            "provide-client-params.dynamodb.*", self._see_params, unique_id=self._uid + "p"
        )
        events.register("after-call.dynamodb.*", self._record, unique_id=self._uid + "a")
        events.register(
            "after-call-error.dynamodb.*", self._record_failure, unique_id=self._uid + "e"
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        events = self.client.meta.events
        events.unregister("provide-client-params.dynamodb.*", unique_id=self._uid + "p")
        events.unregister("after-call.dynamodb.*", unique_id=self._uid + "a")
        events.unregister("after-call-error.dynamodb.*", unique_id=self._uid + "e")

    def _see_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._local.params = params  # this thread's call, until its after-call
        if self.capacity and "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        params, self._local.params = getattr(self._local, "params", None), None
        consumed = parsed.get("ConsumedCapacity") or []
        entries = consumed if isinstance(consumed, list) else [consumed]
        read = write = 0.0
        by_target: defaultdict[str, float] = defaultdict(float)
        for entry in entries:
            for target, part in _targets(entry):
                r, w = _units(operation, part)
                read += r
                write += w
                by_target[target] += r + w
        error = parsed.get("Error", {}).get("Code")
        retries = int(parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        request = Request(
            operation,
            read,
            write,
            dict(by_target),
            error,
            retries,
            _count_items(operation, params),
            params if self.capacity else None,
            parsed if self.capacity else None,
        )
        with self._lock:
            self.requests.append(request)

    def _record_failure(self, exception: BaseException, event_name: str, **_: Any) -> None:
        # no HTTP answer at all (timeout, connection refused): still a request that was attempted
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.requests.append(Request(operation, 0.0, 0.0, {}, type(exception).__name__))

    # ------------------------------------------------------------------ figures
    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def count(self) -> int:
        """Round trips (API calls; botocore retries inside a call are in ``retries``)."""
        return len(self.requests)

    @property
    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    @property
    def read_units(self) -> float:
        return sum(r.read_units for r in self.requests)

    @property
    def write_units(self) -> float:
        return sum(r.write_units for r in self.requests)

    @property
    def retries(self) -> int:
        return sum(r.retries for r in self.requests)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.requests if r.error]

    def by_target(self, kind: str | None = None) -> dict[str, float]:
        """Capacity units per table / index: of reads and writes together, or of ``kind``
        ("read" / "write") requests only."""
        total: defaultdict[str, float] = defaultdict(float)
        for request in self.requests:
            is_read = request.operation in READ_OPERATIONS
            if kind is None or (kind == "read") == is_read:
                for target, units in request.by_target.items():
                    total[target] += units
        return dict(total)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.count,
            "operations": self.operations,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "by_target": self.by_target(),
            "read_by_target": self.by_target("read"),
            "write_by_target": self.by_target("write"),
            "errors": self.errors,
            "retries": self.retries,
            "calls": [r.as_dict() for r in self.requests],
        }


def _count_items(operation: str, params: dict[str, Any] | None) -> int:
    if not params:
        return 1
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return len(params.get("TransactItems", []))
    if operation == "BatchWriteItem":
        return sum(len(v) for v in params.get("RequestItems", {}).values())
    if operation == "BatchGetItem":
        return sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())
    return 1


def _targets(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The parts of one ConsumedCapacity entry: the table and each index, or the entry itself."""
    parts: list[tuple[str, dict[str, Any]]] = []
    if "Table" in entry:
        parts.append(("table", entry["Table"]))
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        parts.extend((name, part) for name, part in (entry.get(kind) or {}).items())
    return parts or [("table", entry)]


def _units(operation: str, part: dict[str, Any]) -> tuple[float, float]:
    """(read, write) units of one target of a ConsumedCapacity entry."""
    read, write = part.get("ReadCapacityUnits"), part.get("WriteCapacityUnits")
    if read is not None or write is not None:
        return float(read or 0.0), float(write or 0.0)
    units = float(part.get("CapacityUnits") or 0.0)
    return (units, 0.0) if operation in READ_OPERATIONS else (0.0, units)


@dataclass
class RequestTimer:
    """Wall time spent inside each DynamoDB call of a client while active (``before-call`` to
    ``after-call``: serialising, signing, the HTTP round trip, parsing; botocore retries included).

    Used to split a handler's latency into time waiting on DynamoDB and its own code.
    """

    client: Any
    durations: list[tuple[str, float]] = field(default_factory=list)  # (operation, ms)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._uid = f"request-timer-{next(_ids)}"

    def __enter__(self) -> Self:
        events = self.client.meta.events
        events.register("before-call.dynamodb.*", self._start, unique_id=self._uid + "b")
        events.register("after-call.dynamodb.*", self._stop, unique_id=self._uid + "a")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        events = self.client.meta.events
        events.unregister("before-call.dynamodb.*", unique_id=self._uid + "b")
        events.unregister("after-call.dynamodb.*", unique_id=self._uid + "a")

    def _start(self, **_: Any) -> None:
        self._local.start = time.perf_counter_ns()

    def _stop(self, model: Any, **_: Any) -> None:
        start = getattr(self._local, "start", None)
        if start is None:
            return
        elapsed = (time.perf_counter_ns() - start) / 1e6
        self._local.start = None
        with self._lock:
            self.durations.append((model.name, elapsed))

    def total_ms(self) -> float:
        return sum(ms for _, ms in self.durations)

    def reset(self) -> None:
        with self._lock:
            self.durations.clear()
