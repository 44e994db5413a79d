"""Identifiers: ULIDs for records we create, stable hashes for records channels name."""

from __future__ import annotations

import hashlib
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def ulid(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48-bit millisecond time + 80 random bits, sortable by creation time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode(ms, 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id for a record identified by channel-given values (e.g. a conversation)."""
    # length-prefixed, so ("a:b",) and ("a", "b") can never collide
    digest = hashlib.sha256("".join(f"{len(p)}:{p}" for p in parts).encode()).digest()
    return prefix + _encode(int.from_bytes(digest[:15], "big"), 24)
