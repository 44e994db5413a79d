"""Unit tests are pure: no sockets (as in aws-samples' cns427 unit conftest)."""

import socket
from typing import Any, NoReturn

import pytest


class NetworkAccessError(RuntimeError):
    """A unit test tried to open a connection."""


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise NetworkAccessError("unit tests must not open sockets")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
