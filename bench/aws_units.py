"""What a metered request would consume on AWS, by DynamoDB's documented rules (an estimate).

DynamoDB Local's ``ConsumedCapacity`` for TransactWriteItems does not add up the items of the
transaction (two small Puts report 2 WCU, as one does; AWS charges 2 WCU per item and KB), and it
charges nothing for a BatchGetItem key that is not found (AWS charges a read for a missing item
too). So next to Local's figures the bench shows this estimate, item by item:

- write: ceil(item size / 1 KB) per item, doubled inside a transaction; per global index, the
  same for the projected item (``ALL``) when the item is in the index after the write, doubled
  again when the write sets one of the index's key attributes (old entry deleted, new one put);
  a ConditionCheck counts as a transactional write of the checked item;
- read: ceil(item size / 4 KB) per item read, found or not (1 = strongly consistent, 0.5 =
  eventually, doubled when transactional); a Query reads its items' total size, rounded up to 4 KB.

Sizes follow the documented item-size rules (attribute names + values; numbers ≈ 1 byte per two
digits + 1; maps/lists 3 bytes + 1 per element). An Update's item is read back after the call
(``fetch``), so its size is the new one.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from bench.meter import Request

Item = dict[str, Any]
Fetch = Callable[[str, Item], Item | None]  # (table, key) → the item now, or None
Indexes = Mapping[str, tuple[str, str]]  # index name → (partition key, sort key) attribute names


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in data)
    if kind == "NS":
        return sum(value_size({"N": v}) for v in data)
    if kind == "BS":
        return sum(len(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _top_level_parts(clause: str) -> list[str]:
    """Comma-separated parts of an update clause, commas inside parentheses kept."""
    parts, depth, current = [], 0, ""
    for char in clause:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def written_attributes(update: Mapping[str, Any]) -> set[str]:
    """Attribute names an UpdateExpression writes (SET, ADD, REMOVE, DELETE), names resolved."""
    names = update.get("ExpressionAttributeNames", {})
    pieces = re.split(r"\b(SET|ADD|REMOVE|DELETE)\b", update.get("UpdateExpression", ""))
    written = set()
    for action, clause in zip(pieces[1::2], pieces[2::2], strict=True):
        for part in _top_level_parts(clause):
            target = part.split("=")[0] if action == "SET" else part.split()[0]
            written.add(names.get(target.strip(), target.strip()))
    return written


def _write(
    kind: str, op: Mapping[str, Any], transactional: bool, fetch: Fetch, indexes: Indexes
) -> dict[str, Any]:
    table = op["TableName"]
    factor = 2 if transactional else 1
    if kind == "Put":
        item, touched = op["Item"], set(op["Item"])
    else:
        key = op["Key"]
        item = fetch(table, key) or key
        touched = written_attributes(op) if kind == "Update" else set()
    size = item_size(item)
    units: dict[str, float] = {"table": math.ceil(size / 1024) * factor}
    if kind != "ConditionCheck":
        for index, key_names in indexes.items():
            if all(name in item for name in key_names):
                moved = kind == "Update" and bool(touched & set(key_names))
                units[index] = math.ceil(size / 1024) * factor * (2 if moved else 1)
    return {"kind": kind, "key": _key_label(item), "size": size, "units": units}


def _key_label(item: Mapping[str, Any]) -> str:
    pk = str(item.get("pk", {}).get("S", ""))
    sk = str(item.get("sk", {}).get("S", ""))
    return f"{pk} | {sk}"


def _reads(request: Request) -> dict[str, Any]:
    params, response = request.params or {}, request.response or {}
    units: dict[str, float] = defaultdict(float)
    parts = []
    if request.operation == "GetItem":
        consistent = 1.0 if params.get("ConsistentRead") else 0.5
        size = item_size(response.get("Item") or {})
        units["table"] += max(1, math.ceil(size / 4096)) * consistent
        parts.append({"kind": "Get", "size": size, "found": "Item" in response})
    elif request.operation == "BatchGetItem":
        for table, spec in params.get("RequestItems", {}).items():
            consistent = 1.0 if spec.get("ConsistentRead") else 0.5
            found = response.get("Responses", {}).get(table, [])
            for item in found:
                units["table"] += max(1, math.ceil(item_size(item) / 4096)) * consistent
                parts.append({"kind": "Get", "size": item_size(item), "found": True})
            for _ in range(len(spec.get("Keys", [])) - len(found)):
                units["table"] += consistent  # a key not found still costs a read
                parts.append({"kind": "Get", "size": 0, "found": False})
    elif request.operation == "Query":
        consistent = 1.0 if params.get("ConsistentRead") else 0.5
        size = sum(item_size(item) for item in response.get("Items", []))
        target = params.get("IndexName", "table")
        units[target] += max(1, math.ceil(size / 4096)) * consistent
        parts.append({"kind": "Query", "size": size, "items": len(response.get("Items", []))})
    return {
        "read_units": sum(units.values()),
        "write_units": 0.0,
        "by_target": dict(units),
        "parts": parts,
    }


def estimate(request: Request, fetch: Fetch, indexes: Indexes) -> dict[str, Any]:
    """Units this request would consume on AWS: totals, by table/index, and per item."""
    params = request.params or {}
    if request.operation in ("GetItem", "BatchGetItem", "Query"):
        return _reads(request)
    parts: list[dict[str, Any]] = []
    if request.operation == "TransactWriteItems":
        for entry in params.get("TransactItems", []):
            ((kind, op),) = entry.items()
            parts.append(_write(kind, op, True, fetch, indexes))
    elif request.operation == "PutItem":
        parts.append(_write("Put", params, False, fetch, indexes))
    elif request.operation == "UpdateItem":
        parts.append(_write("Update", params, False, fetch, indexes))
    else:
        raise ValueError(f"no estimate for {request.operation}")
    by_target: dict[str, float] = defaultdict(float)
    for part in parts:
        for target, units in part["units"].items():
            by_target[target] += units
    return {
        "read_units": 0.0,
        "write_units": sum(by_target.values()),
        "by_target": dict(by_target),
        "parts": parts,
    }
