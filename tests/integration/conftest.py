"""Integration fixtures: DynamoDB Local, with the inbox lists following the tickets.

Every inbox list (status lists included) is read from view entries that the view projector keeps
from the table's stream (README "Inbox views"), so in AWS a list follows a write within the
stream's delay. Here, unless a test is about that delay (``test_inbox_views`` drives the projector
itself), a list is read once the projector has caught up: ``repo.list_tickets`` (and the API's
status lists, which call it) and the auto-close's Query of due tickets first feed the projector
the records this test wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def lists_follow_the_projector(
    monkeypatch: pytest.MonkeyPatch,
    ddb_client: Any,
    table_name: str,
) -> Iterator[Any]:
    from local.streams import ViewFollower
    from tests import helpers
    from ticketing.repository.auto_close import AutoCloseStore
    from ticketing.repository.dynamodb import DynamoTicketRepository

    follower = ViewFollower(ddb_client, table_name)
    followers = {table_name: follower}  # a table the test makes itself is read from its start

    def catch_up(table: str) -> None:
        if table not in followers:
            followers[table] = ViewFollower(ddb_client, table, from_start=True)
        followers[table].catch_up()

    def follow(read: Any, table_of: Any) -> Any:
        def caught_up(self: Any, *args: Any, **kwargs: Any) -> Any:
            catch_up(table_of(self))
            return read(self, *args, **kwargs)

        return caught_up

    for owner, name in ((DynamoTicketRepository, "list_tickets"), (AutoCloseStore, "due_tickets")):
        table_of = (lambda s: s.table_name) if owner is DynamoTicketRepository else _store_table
        monkeypatch.setattr(owner, name, follow(getattr(owner, name), table_of))
    helpers._FOLLOWER.append(follower)
    yield follower
    helpers._FOLLOWER.remove(follower)


def _store_table(store: Any) -> str:
    return str(store._table)
