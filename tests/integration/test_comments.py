"""Comments on DynamoDB Local: intake through the webhook handler (signed samples), the comments
API, idempotent conversion under concurrency, private replies (Meta's rules, the conditional mark,
the outbox) and the PSID learned from the Send API's answer routing the customer's next DM."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.comments_api.app import lambda_handler as comments_api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import comment_samples as samples
from local import demo
from tests.helpers import Accounts, FakeLambdaContext, unique
from ticketing.models import Channel, ChannelConnection, TicketStatus
from ticketing.models.commands import CustomerMessageReceived
from ticketing.models.comments import CommentStatus
from ticketing.models.replies import OutboundMessageRequested, ReplyCommand
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo
from ticketing.services import comments, replies
from ticketing.services.comments import comment_ref_for
from ticketing.services.ingest import IngestResult, conversation_id_for, ingest_customer_message

pytestmark = pytest.mark.integration

WRITERS = 16


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def acc(accounts: Accounts, repo: DynamoTicketRepository) -> Accounts:
    """The accounts fixture's workspace, plus an Instagram account of its own."""
    accounts.ig_id = unique("1784")  # type: ignore[attr-defined]
    repo.put_connection(
        ChannelConnection(
            channel=Channel.INSTAGRAM,
            account_id=accounts.ig_id,  # type: ignore[attr-defined]
            workspace_id=accounts.workspace_id,
            secret_ref=demo.SECRET_REFS["instagram"],
        )
    )
    return accounts


def now_s() -> int:
    return int(time.time())


def post_feed(acc: Accounts, *changes: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = demo.messenger_webhook_event(samples.feed_payload(*changes, page_id=acc.page_id))
    response = ingest(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def post_ig(acc: Accounts, *changes: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    payload = samples.ig_payload(*changes, ig_id=acc.ig_id, ts=now_s())  # type: ignore[attr-defined]
    response = ingest(demo.instagram_webhook_event(payload), FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def api(
    acc: Accounts,
    method: str,
    ref: str | None,
    suffix: str = "",
    *,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    if ref is None:
        resource, path, params = "/comments", "/comments", None
    else:
        resource = "/comments/{comment_id}" + suffix
        path, params = f"/comments/{ref}{suffix}", {"comment_id": ref}
    event = demo.api_event(
        method,
        resource,
        path,
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        path_parameters=params,
        query=query,
        claims=claims or acc.claims(),
    )
    response = comments_api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def fb_ref(acc: Accounts, comment_id: str) -> str:
    return comment_ref_for("messenger", acc.page_id, comment_id)


def source_links(repo: DynamoTicketRepository, ws: str, ticket_id: str) -> list[dict[str, Any]]:
    response = repo.client.query(
        TableName=repo.table_name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues=to_dynamo(
            {":p": keys.ticket_key(ws, ticket_id)["pk"], ":s": keys.SOURCE_LINK_PREFIX}
        ),
        ConsistentRead=True,
    )
    return [from_dynamo(i) for i in response["Items"]]


# ---------------------------------------------------------------------------- intake
def test_feed_comment_add_redelivery_edit_remove_and_page_comment(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    ts = now_s()
    add = samples.feed_change("add", comment_id="c-1", message="Price?", ts=ts)
    # WHEN the comment arrives, then again (a redelivery)
    assert post_feed(acc, add) == (200, {"received": 1, "outcomes": {"comment_stored": 1}})
    assert post_feed(acc, add)[1]["outcomes"] == {"comment_duplicate": 1}
    # WHEN it is edited, the edit redelivered, and removed
    edit = samples.feed_change("edited", comment_id="c-1", message="Price in red?", ts=ts + 60)
    assert post_feed(acc, edit)[1]["outcomes"] == {"comment_edited": 1}
    assert post_feed(acc, edit)[1]["outcomes"] == {"comment_stale": 1}
    stored = comments.get_comment(repo, acc.workspace_id, fb_ref(acc, "c-1"))
    assert stored.text == "Price in red?"
    assert [(r.text, int(r.at.timestamp())) for r in stored.history] == [("Price?", ts)]
    assert stored.author_id == samples.FB_AUTHOR_ID
    assert stored.post_id == samples.FB_POST_ID
    remove = samples.feed_change("remove", comment_id="c-1", message=None, ts=ts + 120)
    assert post_feed(acc, remove)[1]["outcomes"] == {"comment_removed": 1}
    # THEN the comment is kept, marked removed, with its text and history
    removed = comments.get_comment(repo, acc.workspace_id, fb_ref(acc, "c-1"))
    assert removed.status is CommentStatus.REMOVED
    assert removed.removed_at is not None
    assert removed.text == "Price in red?"
    assert len(removed.history) == 1
    # AND the Page's own comment is not stored at all
    own = samples.feed_change("add", comment_id="c-own", author_id=acc.page_id, ts=ts)
    assert post_feed(acc, own)[1]["outcomes"] == {"ignored": 1}
    assert api(acc, "GET", fb_ref(acc, "c-own"))[0] == 404


def test_instagram_comment_is_stored_once(acc: Accounts, repo: DynamoTicketRepository) -> None:
    change = samples.ig_comment_change(comment_id="ig-c1")
    assert post_ig(acc, change)[1]["outcomes"] == {"comment_stored": 1}
    assert post_ig(acc, change)[1]["outcomes"] == {"comment_duplicate": 1}
    ref = comment_ref_for("instagram", acc.ig_id, "ig-c1")  # type: ignore[attr-defined]
    stored = comments.get_comment(repo, acc.workspace_id, ref)
    assert (stored.author_id, stored.post_id) == (samples.IG_AUTHOR_IGSID, samples.IG_MEDIA_ID)


# ---------------------------------------------------------------------------- API
def test_list_by_status_and_post_paginated_mark_and_workspace_scope(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    ts = now_s()
    post_feed(
        acc,
        *(samples.feed_change("add", comment_id=f"l-{i}", ts=ts + i) for i in range(3)),
        samples.feed_change("add", comment_id="other-post", post_id="p-2", ts=ts + 9),
    )
    # by status: newest first, two pages
    status, first = api(acc, "GET", None, query={"status": "new", "limit": "3"})
    assert status == 200
    assert [c["comment_id"] for c in first["items"]] == ["other-post", "l-2", "l-1"]
    _, second = api(acc, "GET", None, query={"limit": "3", "cursor": first["next_cursor"]})
    assert [c["comment_id"] for c in second["items"]] == ["l-0"]
    # by post: oldest first; marks move a comment between statuses
    assert api(acc, "POST", fb_ref(acc, "l-1"), "/hide")[1]["status"] == "hidden"
    assert api(acc, "POST", fb_ref(acc, "l-0"), "/replied")[1]["status"] == "replied"
    status, reply = api(acc, "POST", fb_ref(acc, "l-2"), "/public-reply", body={"text": "DM us"})
    assert status == 201
    assert reply["status"] == "replied"
    assert [(r["text"], r["author"]) for r in reply["public_replies"]] == [("DM us", "agent-1")]
    by_post = {"post_id": samples.FB_POST_ID, "channel": "messenger", "account_id": acc.page_id}
    _, post_page = api(acc, "GET", None, query=by_post)
    assert [c["comment_id"] for c in post_page["items"]] == ["l-0", "l-1", "l-2"]
    _, hidden = api(acc, "GET", None, query={**by_post, "status": "hidden"})
    assert [c["comment_id"] for c in hidden["items"]] == ["l-1"]
    _, new = api(acc, "GET", None, query={"status": "new"})
    assert [c["comment_id"] for c in new["items"]] == ["other-post"]
    # another workspace cannot see it; a cursor of another list is refused
    stranger = {"sub": "agent-x", "custom:workspace_id": unique("ws-")}
    assert api(acc, "GET", fb_ref(acc, "l-1"), claims=stranger)[0] == 404
    status, body = api(acc, "GET", None, query={"cursor": first["next_cursor"]}, claims=stranger)
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


# ---------------------------------------------------------------------------- conversion
def test_sixteen_parallel_converts_of_one_comment_one_ticket_one_link(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    post_feed(acc, samples.feed_change("add", comment_id="race-1", ts=now_s()))
    ref = fb_ref(acc, "race-1")
    barrier = threading.Barrier(WRITERS)

    def convert(_: int) -> comments.CommentConversion:
        barrier.wait(timeout=30)
        return comments.convert_comment(
            repo, acc.workspace_id, ref, actor="agent-1", now=datetime.now(UTC)
        )

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(convert, range(WRITERS)))
    ticket_ids = {r.ticket.ticket_id for r in results}
    assert len(ticket_ids) == 1
    assert sum(r.created for r in results) == 1
    (ticket_id,) = ticket_ids
    stored = comments.get_comment(repo, acc.workspace_id, ref)
    assert stored.ticket_id == ticket_id
    assert stored.status is CommentStatus.CONVERTED
    assert [
        (x["source_kind"], x["source_id"]) for x in source_links(repo, acc.workspace_id, ticket_id)
    ] == [("comment", ref)]
    assert [
        t.ticket_id for t in repo.list_tickets(acc.workspace_id, TicketStatus.OPEN, 10, None).items
    ] == [ticket_id]
    # the conversation is the commenter's DM conversation, keyed by the placeholder
    ticket = repo.get_ticket(acc.workspace_id, ticket_id)
    assert ticket is not None
    assert ticket.channel is Channel.MESSENGER
    assert ticket.conversation_id == conversation_id_for(
        "messenger", acc.page_id, "fb-user:" + samples.FB_AUTHOR_ID
    )
    # converting again through the API answers the same ticket (200)
    status, body = api(acc, "POST", ref, "/convert")
    assert (status, body["ticket"]["ticket_id"], body["created"]) == (200, ticket_id, False)


def test_instagram_conversion_racing_the_commenters_dms(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    ig_id = acc.ig_id  # type: ignore[attr-defined]
    igsid = unique("igsid-")
    post_ig(acc, samples.ig_comment_change(comment_id="ig-race", igsid=igsid))
    ref = comment_ref_for("instagram", ig_id, "ig-race")
    barrier = threading.Barrier(WRITERS)

    def act(index: int) -> str | None:
        barrier.wait(timeout=30)
        now = datetime.now(UTC)
        if index % 2 == 0:
            return comments.convert_comment(
                repo, acc.workspace_id, ref, actor="agent-1", now=now
            ).ticket.ticket_id
        command = CustomerMessageReceived(
            channel=Channel.INSTAGRAM,
            account_id=ig_id,
            customer_id=igsid,
            channel_message_id=f"mid-{index}",
            text="hi",
            sent_at=now,
        )
        result: IngestResult = ingest_customer_message(repo, acc.workspace_id, command, now)
        return result.ticket_id

    with ThreadPoolExecutor(WRITERS) as pool:
        ticket_ids = set(pool.map(act, range(WRITERS)))
    assert len(ticket_ids) == 1
    (ticket_id,) = ticket_ids
    assert ticket_id is not None
    assert comments.get_comment(repo, acc.workspace_id, ref).ticket_id == ticket_id
    assert len(repo.list_messages(acc.workspace_id, ticket_id, 100, None).items) == WRITERS // 2
    assert len(source_links(repo, acc.workspace_id, ticket_id)) == 1
    open_ids = [
        t.ticket_id for t in repo.list_tickets(acc.workspace_id, TicketStatus.OPEN, 10, None).items
    ]
    assert open_ids == [ticket_id]


# ---------------------------------------------------------------------------- private replies
def outbox_details(repo: DynamoTicketRepository, ws: str) -> list[OutboundMessageRequested]:
    return [item.detail for item in repo.list_outbox(ws, 100, None).items]


def test_private_reply_is_marked_queued_once_and_retry_safe(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    post_feed(acc, samples.feed_change("add", comment_id="pr-1", ts=now_s()))
    ref = fb_ref(acc, "pr-1")
    body = {"text": "Hi Jane, yes in red. Size?", "client_message_id": "ui-1"}
    # WHEN the agent replies privately (it converts the comment on the way)
    status, first = api(acc, "POST", ref, "/private-reply", body=body)
    assert status == 201, first
    message = first["message"]
    assert message["direction"] == "outbound"
    assert message["delivery_status"] == "sending"
    assert first["comment"]["private_reply_message_id"] == message["message_id"]
    assert first["comment"]["ticket_id"] == message["ticket_id"]
    # THEN one outbox event addressed to the comment
    (detail,) = outbox_details(repo, acc.workspace_id)
    assert detail.comment_id == "pr-1"
    assert detail.message_id == message["message_id"]
    assert detail.customer_id == "fb-user:" + samples.FB_AUTHOR_ID
    # WHEN the same request is retried: the same message, nothing queued again
    status, again = api(acc, "POST", ref, "/private-reply", body=body)
    assert (status, again["message"]["message_id"]) == (200, message["message_id"])
    assert len(outbox_details(repo, acc.workspace_id)) == 1
    # WHEN another private reply is attempted: refused, nothing queued
    status, refused = api(
        acc, "POST", ref, "/private-reply", body={**body, "client_message_id": "ui-2"}
    )
    assert status == 409
    assert refused["error"]["code"] == "private_reply_not_allowed"
    assert refused["error"]["details"]["reason"] == "already_sent"
    assert len(outbox_details(repo, acc.workspace_id)) == 1
    ticket = repo.get_ticket(acc.workspace_id, message["ticket_id"])
    assert ticket is not None
    assert ticket.messages_out == 1


def test_private_reply_rules_window_live_and_length(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    old = now_s() - 8 * 24 * 3600
    post_feed(acc, samples.feed_change("add", comment_id="old-1", ts=old))
    body = {"text": "hello", "client_message_id": "ui-1"}
    status, refused = api(acc, "POST", fb_ref(acc, "old-1"), "/private-reply", body=body)
    assert (status, refused["error"]["details"]["reason"]) == (409, "window_closed")
    # an Instagram Live comment from 5 hours ago: the broadcast is over
    ig_id = acc.ig_id  # type: ignore[attr-defined]
    live = samples.ig_comment_change(comment_id="live-1", field="live_comments")
    payload = samples.ig_payload(live, ig_id=ig_id, ts=now_s() - 5 * 3600)
    ingest(demo.instagram_webhook_event(payload), FakeLambdaContext())
    ref = comment_ref_for("instagram", ig_id, "live-1")
    status, refused = api(acc, "POST", ref, "/private-reply", body=body)
    assert (status, refused["error"]["details"]["reason"]) == (409, "live_ended")
    # Instagram text is limited to 1,000 characters
    post_ig(acc, samples.ig_comment_change(comment_id="ig-long"))
    long_ref = comment_ref_for("instagram", ig_id, "ig-long")
    status, _ = api(acc, "POST", long_ref, "/private-reply", body={**body, "text": "x" * 1001})
    assert status == 422
    assert outbox_details(repo, acc.workspace_id) == []
    # nothing was marked
    assert comments.get_comment(repo, acc.workspace_id, long_ref).private_reply_message_id is None


def test_psid_from_the_send_api_answer_routes_the_customers_dm_to_the_comment_ticket(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    # GIVEN a private reply to a Facebook comment, queued for the sender
    author = unique("73")
    post_feed(acc, samples.feed_change("add", comment_id="psid-1", author_id=author, ts=now_s()))
    ref = fb_ref(acc, "psid-1")
    body = {"text": "Hi! Which size?", "client_message_id": "ui-1"}
    _, sent = api(acc, "POST", ref, "/private-reply", body=body)
    ticket_id = sent["message"]["ticket_id"]
    (detail,) = outbox_details(repo, acc.workspace_id)
    # WHEN the sender gets Meta's recorded answer and records the recipient (twice: redelivery)
    psid = unique("60")
    answer = {**samples.SEND_API_PRIVATE_REPLY_MESSENGER, "recipient_id": psid}
    now = datetime.now(UTC)
    outcome = comments.record_private_reply_recipient(repo, detail, answer["recipient_id"], now)
    assert outcome == "aliased"
    again = comments.record_private_reply_recipient(repo, detail, answer["recipient_id"], now)
    assert again == "already_aliased"
    # THEN the customer's DM (from their PSID) lands on the comment's ticket
    dm = acc.messenger_message(unique("m_"), "M please", psid=psid, ts=int(time.time() * 1000))
    response = ingest(acc.messenger(dm), FakeLambdaContext())
    assert json.loads(response["body"])["outcomes"] == {"appended": 1}
    messages = repo.list_messages(acc.workspace_id, ticket_id, 10, None).items
    assert [(m.direction.value, m.text) for m in messages] == [
        ("outbound", "Hi! Which size?"),
        ("inbound", "M please"),
    ]
    assert messages[1].conversation_id == detail.conversation_id
    # AND the agent's next reply on the ticket addresses the PSID
    replies.reply(
        repo,
        acc.workspace_id,
        ticket_id,
        ReplyCommand(text="Sent!", client_message_id="ui-2"),
        agent_id="agent-1",
        now=datetime.now(UTC),
    )
    latest = outbox_details(repo, acc.workspace_id)[-1]
    assert (latest.customer_id, latest.comment_id) == (psid, None)
    # AND only one conversation: the PSID's own key holds the alias, not a second guard
    via_psid = repo.get_conversation(
        acc.workspace_id, conversation_id_for("messenger", acc.page_id, psid)
    )
    assert via_psid is not None
    assert via_psid.conversation_id == detail.conversation_id
    assert via_psid.customer_id == psid
    open_ids = [
        t.ticket_id for t in repo.list_tickets(acc.workspace_id, TicketStatus.OPEN, 10, None).items
    ]
    assert open_ids == [ticket_id]


def test_a_customer_who_already_dmed_the_page_keeps_their_conversation(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    psid = unique("60")
    first = acc.messenger_message(unique("m_"), "hello", psid=psid, ts=int(time.time() * 1000))
    ingest(acc.messenger(first), FakeLambdaContext())
    post_feed(
        acc, samples.feed_change("add", comment_id="known-1", author_id=unique("73"), ts=now_s())
    )
    api(
        acc,
        "POST",
        fb_ref(acc, "known-1"),
        "/private-reply",
        body={"text": "hi", "client_message_id": "u"},
    )
    (detail,) = outbox_details(repo, acc.workspace_id)
    outcome = comments.record_private_reply_recipient(repo, detail, psid, datetime.now(UTC))
    assert outcome == "psid_has_conversation"
    own = repo.get_conversation(
        acc.workspace_id, conversation_id_for("messenger", acc.page_id, psid)
    )
    assert own is not None
    assert own.customer_id == psid


def test_instagram_recipient_is_already_the_conversations_customer(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    igsid = unique("igsid-")
    post_ig(acc, samples.ig_comment_change(comment_id="ig-pr", igsid=igsid))
    ref = comment_ref_for("instagram", acc.ig_id, "ig-pr")  # type: ignore[attr-defined]
    status, sent = api(
        acc, "POST", ref, "/private-reply", body={"text": "hi", "client_message_id": "u"}
    )
    assert status == 201
    (detail,) = outbox_details(repo, acc.workspace_id)
    assert detail.customer_id == igsid
    assert detail.comment_id == "ig-pr"
    answer = {**samples.SEND_API_PRIVATE_REPLY_INSTAGRAM, "recipient_id": igsid}
    assert (
        comments.record_private_reply_recipient(
            repo, detail, answer["recipient_id"], datetime.now(UTC)
        )
        == "already_known"
    )
    # the commenter's DM goes to the same ticket with no alias at all
    now = datetime.now(UTC)
    result = ingest_customer_message(
        repo,
        acc.workspace_id,
        CustomerMessageReceived(
            channel=Channel.INSTAGRAM,
            account_id=acc.ig_id,  # type: ignore[attr-defined]
            customer_id=igsid,
            channel_message_id=unique("mid-"),
            text="size M",
            sent_at=now,
        ),
        now,
    )
    assert (result.outcome, result.ticket_id) == ("appended", sent["message"]["ticket_id"])


def test_conversion_keeps_working_after_the_ticket_closes(
    acc: Accounts, repo: DynamoTicketRepository
) -> None:
    from ticketing.services import tickets

    post_feed(acc, samples.feed_change("add", comment_id="cl-1", ts=now_s()))
    ref = fb_ref(acc, "cl-1")
    first = comments.convert_comment(repo, acc.workspace_id, ref, actor="a", now=datetime.now(UTC))
    tickets.close_ticket(
        repo, acc.workspace_id, first.ticket.ticket_id, actor="a", now=datetime.now(UTC)
    )
    # converting the same comment again answers its ticket (the link), whatever its status
    again = comments.convert_comment(repo, acc.workspace_id, ref, actor="a", now=datetime.now(UTC))
    assert again.ticket.ticket_id == first.ticket.ticket_id
    assert again.created is False
    assert again.ticket.status is TicketStatus.CLOSED
    # a private reply reopens (within the window) the commenter's DM ticket
    status, sent = api(
        acc, "POST", ref, "/private-reply", body={"text": "hi", "client_message_id": "u"}
    )
    assert status == 201
    assert sent["message"]["ticket_id"] == first.ticket.ticket_id
    ticket = repo.get_ticket(acc.workspace_id, first.ticket.ticket_id)
    assert ticket is not None
    assert ticket.status is TicketStatus.OPEN
    assert (timedelta(0) <= datetime.now(UTC) - ticket.last_activity_at) is True
