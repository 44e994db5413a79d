"""EventBridge event pattern matching (also the syntax of Lambda / Pipes FilterCriteria).

    matches({"detail": {"status": [{"prefix": "op"}]}}, event)

A pattern is a JSON object whose leaves are arrays of matchers; a field matches when its value
(or, for an array in the event, any of its elements) matches any matcher of the array. Supported:
exact values (strings, numbers compared as numbers, ``true``/``false``, ``null``), ``prefix``,
``suffix`` and ``equals-ignore-case`` (prefix/suffix also with ``{"equals-ignore-case": ...}``),
``wildcard``, ``anything-but`` (a value, a list, or a ``prefix``/``suffix``/``equals-ignore-case``/
``wildcard`` object), ``exists``, ``numeric`` (one or two comparisons), ``cidr`` and ``$or``.
A missing field only matches ``{"exists": false}``. Pure: no I/O, no AWS client.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}


class PatternError(ValueError):
    """The pattern uses an operator this matcher does not know, or is malformed."""


def parse_pattern(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A pattern given as JSON text (CloudFormation accepts both) or as an object."""
    if value is None:
        return {}
    pattern = json.loads(value) if isinstance(value, str) else dict(value)
    if not isinstance(pattern, dict):
        raise PatternError("an event pattern is a JSON object")
    return pattern


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether ``event`` (a decoded JSON document) matches ``pattern``. An empty pattern matches."""
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
        elif not _field_matches(expected, event.get(key, _MISSING)):
            return False
    return True


def _field_matches(expected: Any, value: Any) -> bool:
    if isinstance(expected, Mapping):  # a nested pattern
        if isinstance(value, list):
            return any(matches(expected, element) for element in value)
        return matches(expected, value)
    if not isinstance(expected, list):
        raise PatternError(f"pattern leaves are arrays, got {expected!r}")
    if value is _MISSING:
        return any(isinstance(m, Mapping) and m.get("exists") is False for m in expected)
    values = value if isinstance(value, list) else [value]
    return any(_matcher_matches(matcher, v) for matcher in expected for v in values)


def _same(expected: Any, value: Any) -> bool:
    """JSON equality: numbers by value (5 == 5.0), but never a bool for a number."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return bool(type(expected) is type(value) and expected == value)


def _matcher_matches(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _same(matcher, value)
    if len(matcher) != 1:
        raise PatternError(f"one operator per matcher, got {dict(matcher)!r}")
    ((name, argument),) = matcher.items()
    if name == "exists":
        return argument is True  # the field is there (a missing one is handled by the caller)
    if name == "numeric":
        return _numeric(argument, value)
    if name == "anything-but":
        return _anything_but(argument, value)
    if name == "cidr":
        return _cidr(argument, value)
    return _string_matcher(name, argument, value)


def _string_matcher(name: str, argument: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    ignore_case = isinstance(argument, Mapping) and "equals-ignore-case" in argument
    text = argument["equals-ignore-case"] if ignore_case else argument
    if not isinstance(text, str):
        raise PatternError(f"{name} takes a string, got {argument!r}")
    subject: str = value.lower() if ignore_case else value
    if ignore_case:
        text = text.lower()
    if name == "prefix":
        return subject.startswith(text)
    if name == "suffix":
        return subject.endswith(text)
    if name == "equals-ignore-case":
        return subject.lower() == text.lower()
    if name == "wildcard":
        return (
            re.fullmatch(".*".join(re.escape(part) for part in text.split("*")), subject)
            is not None
        )
    raise PatternError(f"unsupported pattern operator: {name!r}")


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, Mapping):
        ((name, inner),) = argument.items()
        texts = inner if isinstance(inner, list) else [inner]
        return isinstance(value, str) and not any(
            _string_matcher(name, text, value) for text in texts
        )
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_same(item, value) for item in excluded)


def _numeric(argument: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(f"numeric takes [op, n] or [op, n, op, n], got {argument!r}")
    for op, bound in zip(argument[::2], argument[1::2], strict=True):
        if op not in _NUMERIC:
            raise PatternError(f"unsupported numeric operator: {op!r}")
        if not _NUMERIC[op](float(value), float(bound)):
            return False
    return True


def _cidr(argument: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(str(argument), strict=False)
    except ValueError:
        return False
