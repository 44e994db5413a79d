"""Exact DynamoDB requests and capacity of the comment operations, pinned (bench.meter on DynamoDB
Local, ``ReturnConsumedCapacity=INDEXES``; a failed conditional write counts as a request with
no capacity reported). Pinned as (operation, items or keys, read units, write units, by target,
error)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.meter import CapacityMeter
from local import comment_samples as samples
from tests.helpers import unique
from ticketing.models import Channel, WorkspaceSettings
from ticketing.models.commands import CommentEvent, CustomerMessageReceived
from ticketing.models.comments import PrivateReplyCommand
from ticketing.repository.dynamodb import DynamoTicketRepository
from ticketing.services import comments
from ticketing.services.ingest import ingest_customer_message

pytestmark = pytest.mark.integration

Call = tuple[str, int, float, float, dict[str, float], str | None]


def calls(meter: CapacityMeter) -> list[Call]:
    return [
        (r.operation, r.items, r.read_units, r.write_units, r.by_target, r.error)
        for r in meter.requests
    ]


def event(verb: str, comment_id: str, *, author: str = "7301", text: str = "Price?") -> Any:
    return CommentEvent(
        channel=Channel.MESSENGER,
        account_id="page-1",
        verb=verb,  # type: ignore[arg-type]
        comment_id=comment_id,
        post_id="page-1_post-1",
        author_id=author,
        author_name="Jane",
        text=text,
        at=datetime.fromtimestamp(int(time.time()), tz=UTC),
    )


@pytest.fixture
def ws(repo: DynamoTicketRepository) -> str:
    workspace_id = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, name="shop"))
    return workspace_id


def test_comment_intake_costs(repo: DynamoTicketRepository, ws: str) -> None:
    now = datetime.now(UTC)
    # a new comment: one guarded Put (table + gsi1 by post + gsi2 by status)
    with CapacityMeter(repo.client) as meter:
        assert comments.ingest_comment(repo, ws, event("add", "c1"), now).outcome == (
            "comment_stored"
        )
    assert calls(meter) == [
        ("PutItem", 1, 0.0, 3.0, {"table": 1.0, "gsi1": 1.0, "gsi2": 1.0}, None)
    ]
    # a redelivery: the same Put, refused by its condition; nothing written
    with CapacityMeter(repo.client) as meter:
        comments.ingest_comment(repo, ws, event("add", "c1"), now)
    assert calls(meter) == [("PutItem", 1, 0.0, 0.0, {}, "ConditionalCheckFailedException")]
    # an edit: a strong read and a version-guarded Put
    later = event("edited", "c1", text="Price in red?").model_copy(
        update={"at": datetime.fromtimestamp(int(time.time()) + 5, tz=UTC)}
    )
    with CapacityMeter(repo.client) as meter:
        assert comments.ingest_comment(repo, ws, later, now).outcome == "comment_edited"
    assert calls(meter) == [
        ("GetItem", 1, 1.0, 0.0, {"table": 1.0}, None),
        ("PutItem", 1, 0.0, 3.0, {"table": 1.0, "gsi1": 1.0, "gsi2": 1.0}, None),
    ]


def test_conversion_and_private_reply_costs(repo: DynamoTicketRepository, ws: str) -> None:
    now = datetime.now(UTC)
    # (the workspace's first ticket also registers the workspace: not measured here)
    comments.ingest_comment(repo, ws, event("add", "c0", author=unique("73")), now)
    first = comments.comment_ref_for("messenger", "page-1", "c0")
    comments.convert_comment(repo, ws, first, actor="a1", now=now)
    comments.ingest_comment(repo, ws, event("add", "c1", author=unique("73")), now)
    ref = comments.comment_ref_for("messenger", "page-1", "c1")
    # converting a new commenter's comment: comment read, guard + settings read, ticket number,
    # one transaction (conversation, identity, contact, ticket, history, the contact's two links,
    # the ticket → comment link), the comment → ticket write
    with CapacityMeter(repo.client) as meter:
        assert comments.convert_comment(repo, ws, ref, actor="a1", now=now).created
    assert [c[:2] for c in calls(meter)] == [
        ("GetItem", 1),
        ("BatchGetItem", 2),
        ("UpdateItem", 1),
        ("TransactWriteItems", 8),
        ("PutItem", 1),
    ]
    # converting it again: the comment names its ticket
    with CapacityMeter(repo.client) as meter:
        assert not comments.convert_comment(repo, ws, ref, actor="a1", now=now).created
    assert [c[:2] for c in calls(meter)] == [("GetItem", 1), ("GetItem", 1)]
    # the private reply on the open ticket: comment read, guard read, ticket read, ticket → comment
    # link (already there: refused), the mark, the conversation read, the reply transaction
    command = PrivateReplyCommand(text="Which size?", client_message_id="ui-1")
    with CapacityMeter(repo.client) as meter:
        comments.private_reply(repo, ws, ref, command, agent_id="a1", now=now)
    assert [(c[0], c[1], c[5]) for c in calls(meter)] == [
        ("GetItem", 1, None),
        ("BatchGetItem", 2, None),
        ("GetItem", 1, None),
        ("PutItem", 1, "ConditionalCheckFailedException"),
        ("PutItem", 1, None),
        ("GetItem", 1, None),
        ("TransactWriteItems", 3, None),
    ]


def test_a_dm_routed_by_an_alias_pays_one_get_item_more(
    repo: DynamoTicketRepository, ws: str
) -> None:
    now = datetime.now(UTC)
    comments.ingest_comment(repo, ws, event("add", "c1", author=unique("73")), now)
    ref = comments.comment_ref_for("messenger", "page-1", "c1")
    command = PrivateReplyCommand(text="Which size?", client_message_id="ui-1")
    comments.private_reply(repo, ws, ref, command, agent_id="a1", now=now)
    (item,) = repo.list_outbox(ws, 10, None).items
    psid = samples.SEND_API_PRIVATE_REPLY_MESSENGER["recipient_id"] + unique("-")
    assert comments.record_private_reply_recipient(repo, item.detail, psid, now) == "aliased"

    def dm(sender: str) -> CustomerMessageReceived:
        return CustomerMessageReceived(
            channel=Channel.MESSENGER,
            account_id="page-1",
            customer_id=sender,
            channel_message_id=unique("mid-"),
            text="M",
            sent_at=now,
        )

    with CapacityMeter(repo.client, capacity=False) as meter:
        result = ingest_customer_message(repo, ws, dm(psid), now)
    assert (result.outcome, result.ticket_id) == ("appended", item.detail.ticket_id)
    assert [c[:2] for c in calls(meter)] == [
        ("BatchGetItem", 3),
        ("GetItem", 1),
        ("TransactWriteItems", 2),
    ]
    # a customer with no alias: the hot path is unchanged (one BatchGetItem, one transaction)
    ingest_customer_message(repo, ws, dm("psid-plain"), now)
    with CapacityMeter(repo.client, capacity=False) as meter:
        ingest_customer_message(repo, ws, dm("psid-plain"), now)
    assert [c[:2] for c in calls(meter)] == [("BatchGetItem", 3), ("TransactWriteItems", 2)]
