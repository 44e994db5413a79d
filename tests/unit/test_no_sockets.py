"""The unit-test guard itself: a test that reaches for the network fails loudly."""

import socket

import pytest

from tests.unit.conftest import NetworkAccessError


def test_connect_is_refused():
    # GIVEN the autouse no_sockets fixture
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # WHEN a unit test tries to connect anywhere
    # THEN it is refused before any packet leaves
    with sock, pytest.raises(NetworkAccessError):
        sock.connect(("127.0.0.1", 9))


def test_connect_ex_is_refused():
    # GIVEN the autouse no_sockets fixture
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # WHEN a unit test tries connect_ex
    # THEN it is refused too
    with sock, pytest.raises(NetworkAccessError):
        sock.connect_ex(("127.0.0.1", 9))
