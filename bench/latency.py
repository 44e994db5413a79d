"""Ingest latency through the real webhook handler, in-process, as a ratio to a bare put_item.

Four series are measured interleaved (one sample of each per round, in a rotating order), so
DynamoDB Local's warm-up, GC pauses and machine noise fall on all of them alike:

- ``put_item``: a bare boto3 ``put_item`` of a message-sized item (the product's client config);
- ``append``: a new customer message on a conversation whose ticket is open;
- ``create_new_conversation``: the first message of a new customer (a new conversation, contact
  and ticket);
- ``create_existing_conversation``: a message on a conversation whose ticket was closed by an agent
  (``services.tickets.leave_open``), in a workspace with the reopen window off, so a new ticket is
  created and linked to the previous one.

Events are built and signed before the clock starts; the handler's connection cache is warm (as
in a warm Lambda container), so each sample is one complete webhook request. A ``RequestTimer`` on
the handler's client splits each sample into time inside DynamoDB calls and the handler's own
code, and gives the median duration of each kind of request.
"""

from __future__ import annotations

import time
from typing import Any

from bench import stack
from bench.meter import RequestTimer
from bench.stats import median, summary

CASES = (
    "put_item",
    "append",
    "create_new_conversation",
    "create_existing_conversation",
    "bare_append",
    "bare_create",
)
HANDLER_CASES = CASES[1:4]
# The floor: the same request shapes with no domain code (item sizes as bench/cost.py prices
# them), bare boto3 on the same table. What any design with these round trips and items costs on
# this DynamoDB Local, before a line of ours runs.
APPEND_PUTS = (635,)  # the message (with its gsi1 keys); plus an Update of a 583-byte ticket
CREATE_PUTS = (635, 410, 224, 193, 583, 319, 192, 170)  # message, conversation, identity, ...
EXPECTED = {
    "append": "appended",
    "create_new_conversation": "created",
    "create_existing_conversation": "created",
}
GOALS = {"append": 3.0, "create_new_conversation": 4.0, "create_existing_conversation": 4.0}


def measure(samples: int, warmup: int, progress: Any = print) -> dict[str, Any]:
    rounds = samples + warmup
    base_client = stack.client()
    table = stack.TABLE_NAME

    # GIVEN an open ticket to append to, a workspace for new customers, and `rounds` closed
    # tickets in a workspace whose reopen window is off
    appends = stack.Workspace.create()
    stack.open_ticket(appends, "psid-append")
    creates = stack.Workspace.create()
    recreates = stack.Workspace.create(reopen_window_seconds=None)
    progress(f"  preparing {rounds} closed tickets")
    for i in range(rounds):
        stack.close(recreates, stack.open_ticket(recreates, f"psid-re-{i}"))

    events: dict[str, list[Any]] = {
        "put_item": [
            {
                "pk": {"S": f"BENCH#put#{stack.unique('')}"},
                "sk": {"S": "PUT"},
                "text": {"S": stack.TEXT},
            }
            for _ in range(rounds)
        ],
        "append": [appends.message("psid-append") for _ in range(rounds)],
        "create_new_conversation": [creates.message(f"psid-new-{i}") for i in range(rounds)],
        "create_existing_conversation": [recreates.message(f"psid-re-{i}") for i in range(rounds)],
    }
    base_client.put_item(TableName=table, Item=events["put_item"][0])  # connect
    bare = _bare_requests(base_client, table, rounds)

    from ticketing.repository.dynamodb import dynamodb_client

    timer = RequestTimer(dynamodb_client())  # the handler's client: time spent in DynamoDB calls

    def run(case: str, i: int) -> tuple[float, float]:
        """(handler ms, of which in DynamoDB calls ms)."""
        if case in bare:
            calls = bare[case][i]
            start = time.perf_counter_ns()
            for operation, params in calls:
                getattr(base_client, operation)(**params)
            elapsed = (time.perf_counter_ns() - start) / 1e6
            return elapsed, elapsed
        item = events[case][i]
        if case == "put_item":
            start = time.perf_counter_ns()
            base_client.put_item(TableName=table, Item=item)
            elapsed = (time.perf_counter_ns() - start) / 1e6
            return elapsed, elapsed
        timer.reset()
        start = time.perf_counter_ns()
        response = stack.ingest(item)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if response["statusCode"] != 200 or f'"{EXPECTED[case]}": 1' not in response["body"]:
            raise RuntimeError(f"{case}: {response['statusCode']} {response['body']}")
        return elapsed, timer.total_ms()

    # WHEN each is timed, round after round
    timings: dict[str, list[float]] = {case: [] for case in CASES}
    in_db: dict[str, list[float]] = {case: [] for case in CASES}
    by_operation: dict[str, list[float]] = {}
    progress(f"  timing {samples} samples of each (+{warmup} warm-up)")
    with timer:
        for i in range(rounds):
            order = CASES[i % len(CASES) :] + CASES[: i % len(CASES)]
            for case in order:
                elapsed, db = run(case, i)
                if i >= warmup:
                    timings[case].append(elapsed)
                    in_db[case].append(db)
                    for operation, ms in timer.durations:
                        by_operation.setdefault(operation, []).append(ms)

    # THEN each as a ratio to the bare put_item's median
    base = median(timings["put_item"])
    result: dict[str, Any] = {"baseline_put_item": summary(timings["put_item"])}
    floors = {
        name: round(median(timings[name]) / base, 2) for name in ("bare_append", "bare_create")
    }
    result["floor"] = {
        "what": "the same requests (round trips, items, sizes) with no domain code, bare boto3",
        "append_ratio": floors["bare_append"],
        "create_ratio": floors["bare_create"],
        "append_ms": summary(timings["bare_append"]),
        "create_ms": summary(timings["bare_create"]),
    }
    for case in HANDLER_CASES:
        figures = summary(timings[case])
        figures["median_ratio"] = round(figures["median_ms"] / base, 2)
        figures["p99_ratio"] = round(figures["p99_ms"] / base, 2)
        figures["goal_median_ratio"] = GOALS[case]
        figures["goal_met"] = figures["median_ratio"] <= GOALS[case]
        figures["floor_ratio"] = floors[
            "bare_create" if case.startswith("create") else "bare_append"
        ]
        figures["median_in_dynamodb_ms"] = round(median(in_db[case]), 3)
        figures["median_own_code_ms"] = round(
            median([t - d for t, d in zip(timings[case], in_db[case], strict=True)]), 3
        )
        result[case] = figures
    # how long each kind of request takes on this DynamoDB Local, inside the handler
    result["median_request_ms"] = {
        operation: round(median(values), 3) for operation, values in sorted(by_operation.items())
    }
    result["median_request_ms"]["PutItem (bare, baseline)"] = round(base, 3)
    result["requests_timed"] = {op: len(values) for op, values in sorted(by_operation.items())}
    return result


def _padded(key: str, size: int, **extra: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": key}, "sk": {"S": "BARE"}, **extra}
    used = len(key) + 2 + 4 + sum(len(k) + len(v["S"]) for k, v in extra.items())
    item["data"] = {"S": "x" * max(1, size - used - 4)}
    return item


def _bare_requests(client: Any, table: str, rounds: int) -> dict[str, list[list[tuple[str, Any]]]]:
    """Per round, the floor's requests for an append and for a create (built before timing)."""
    ticket = _padded(f"BENCH#bare#ticket#{stack.unique('')}", 583)
    workspace = _padded(f"BENCH#bare#ws#{stack.unique('')}", 150)
    conversation = _padded(f"BENCH#bare#conv#{stack.unique('')}", 410)
    for item in (ticket, workspace, conversation):
        client.put_item(TableName=table, Item=item)

    def key(item: dict[str, Any]) -> dict[str, Any]:
        return {"pk": item["pk"], "sk": item["sk"]}

    def read(*keys: dict[str, Any]) -> tuple[str, Any]:
        return (
            "batch_get_item",
            {"RequestItems": {table: {"Keys": list(keys), "ConsistentRead": True}}},
        )

    def put(size: int, indexed: bool) -> dict[str, Any]:
        name = f"BENCH#bare#{stack.unique('')}"
        extra = {"gsi1pk": {"S": f"{name}#G"}, "gsi1sk": {"S": "0001"}} if indexed else {}
        return {
            "Put": {
                "TableName": table,
                "Item": _padded(name, size, **extra),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    requests: dict[str, list[list[tuple[str, Any]]]] = {"bare_append": [], "bare_create": []}
    for _ in range(rounds):
        absent = {"pk": {"S": f"BENCH#bare#absent#{stack.unique('')}"}, "sk": {"S": "BARE"}}
        update = {
            "Update": {
                "TableName": table,
                "Key": key(ticket),
                "UpdateExpression": "SET touched = :t ADD n :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":t": {"S": stack.unique("")}, ":one": {"N": "1"}},
            }
        }
        requests["bare_append"].append(
            [
                read(key(conversation), key(workspace), absent),
                (
                    "transact_write_items",
                    {"TransactItems": [put(APPEND_PUTS[0], indexed=True), update]},
                ),
            ]
        )
        counter = {
            "TableName": table,
            "Key": key(workspace),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "UPDATED_NEW",
        }
        puts = [put(size, indexed=n == 0) for n, size in enumerate(CREATE_PUTS)]
        requests["bare_create"].append(
            [
                read(key(workspace), absent, {**absent, "sk": {"S": "OTHER"}}),
                ("update_item", counter),
                ("transact_write_items", {"TransactItems": puts}),
            ]
        )
    return requests
