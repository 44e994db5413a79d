"""Hypothesis helpers shared by the channel adapters' fuzz tests (tests/unit/test_channels_*.py).

Strategies for arbitrary JSON, mutants of a realistic sample and noisy payloads of a channel's
shape; the one property every adapter keeps (``parse`` gives its payload model or raises
``MalformedPayloadError``, nothing else); and ``parse_fuzz_tests``, that property over any bytes
and any JSON document, as two tests for a test module to name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from ticketing.channels.base import MAX_EPOCH_MS, ChannelAdapter
from ticketing.errors import MalformedPayloadError
from ticketing.models.records import ChannelConnection

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


# ----------------------------------------------------------------------------------- JSON
def json_values(*, finite: bool = True, max_key_size: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON document; with ``finite=False`` floats may also be NaN or ±Infinity (which
    ``json.dumps`` writes, as ``NaN``/``Infinity``)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=not finite, allow_infinity=not finite)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=max_key_size), children, max_size=4)
        ),
        max_leaves=20,
    )


JSON = json_values()
JSON_WITH_NAN = json_values(finite=False, max_key_size=10)
BYTES = st.binary(max_size=512)
LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats()


# -------------------------------------------------------------------------------- mutants
def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return found
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


def like(old: Any) -> st.SearchStrategy[Any]:
    """Values of the same JSON type as ``old`` (so more mutants stay parseable)."""
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int | float):
        return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(old, str):
        return st.text() | st.integers(min_value=-1, max_value=10**15).map(str)
    if isinstance(old, list):
        return st.just([])
    if isinstance(old, dict):
        return st.just({})
    return JSON


@st.composite
def mutated(draw: st.DrawFn, sample: dict[str, Any]) -> Any:
    """The sample with a few nodes changed, retyped or removed: often still parseable."""
    value = copy.deepcopy(sample)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        *parents, last = draw(st.sampled_from(paths(sample)))
        node = value
        try:
            for key in parents:
                node = node[key]
            old = node[last] if isinstance(node, dict | list) else None
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this branch
        if not isinstance(node, dict | list):
            continue
        action = draw(st.sampled_from(["like", "like", "any", "delete"]))
        if action == "delete" and isinstance(node, dict):
            del node[last]
        else:
            node[last] = draw(like(old) if action == "like" else JSON)
    return value


# ------------------------------------------------------------------------ channel-shaped
def shaper(*, noisy: bool) -> Callable[[st.SearchStrategy[T]], st.SearchStrategy[Any]]:
    """``shaped(strategy)`` for building payloads of a channel's shape: the strategy itself, or
    with ``noisy`` one time in twelve any JSON leaf (``LEAF``) instead."""

    def shaped(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[Any]:
        if not noisy:
            return strategy
        return st.integers(0, 11).flatmap(lambda n: LEAF if n == 0 else strategy)

    return shaped


def epoch_ms(*, noisy: bool) -> st.SearchStrategy[int]:
    """Channel timestamps (ms) a datetime can hold; ``noisy``: also any integer at all."""
    timestamps = st.integers(0, MAX_EPOCH_MS)
    if noisy:
        timestamps |= st.integers() | st.integers(0, 2**80)
    return timestamps


# ------------------------------------------------------------------------------ property
def parse_or_refuse(adapter: ChannelAdapter[P], model: type[P], raw: bytes) -> P | None:
    """``raw`` parsed: a ``model``, or None where the adapter raised ``MalformedPayloadError``.
    Any other exception (or any other result) fails the test."""
    try:
        payload = adapter.parse(raw)
    except MalformedPayloadError:
        return None
    assert isinstance(payload, model)
    return payload


def parse_and_translate(
    adapter: ChannelAdapter[P],
    model: type[P],
    raw: bytes,
    connection_maps: Iterable[Mapping[str, ChannelConnection] | None] = (None,),
) -> P | None:
    """``parse_or_refuse``; then whatever parses translates without error (under each of
    ``connection_maps``), each command to an account the payload names."""
    payload = parse_or_refuse(adapter, model, raw)
    if payload is not None:
        accounts = adapter.account_ids(payload)
        for connections in connection_maps:
            for command in adapter.commands(payload, connections):
                assert command.account_id in accounts
    return payload


def parse_fuzz_tests(
    check: Callable[[bytes], object],
    *,
    raw: st.SearchStrategy[bytes] = BYTES,
    values: st.SearchStrategy[Any] = JSON,
) -> tuple[Callable[..., None], Callable[..., None]]:
    """Two tests of ``check`` (a test module's function that parses a body and asserts on it):
    GIVEN any bytes (``raw``), and GIVEN any JSON document (``values``) as a body. Name them in
    the test module: ``test_a, test_b = parse_fuzz_tests(check)``."""

    def arbitrary_bytes(body: bytes) -> None:
        check(body)

    def arbitrary_json(value: Any) -> None:
        check(json.dumps(value).encode())

    # Hypothesis keys its example database by a test's source, the same here for every module:
    # key each module's tests apart, as its pytest plugin does for parametrized tests.
    key = f"{check.__module__}.{check.__qualname__}"
    arbitrary_bytes._hypothesis_internal_add_digest = f"{key}:bytes".encode()  # type: ignore[attr-defined]
    arbitrary_json._hypothesis_internal_add_digest = f"{key}:json".encode()  # type: ignore[attr-defined]
    return given(raw)(arbitrary_bytes), given(values)(arbitrary_json)
