"""Comment webhooks through the Meta adapters (realistic samples: local/comment_samples.py, also
in events/), and the pure comment rules (status, edits, private-reply rules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from local import comment_samples as samples
from local.demo import INSTAGRAM_ACCOUNT_ID, MESSENGER_PAGE_ID, T0
from tests.helpers import load_event
from tests.unit.fuzzing import mutated, parse_and_translate
from ticketing.channels import get_adapter
from ticketing.channels.instagram import InstagramAdapter, InstagramWebhook
from ticketing.channels.messenger import MessengerAdapter, MessengerWebhook
from ticketing.errors import MalformedPayloadError
from ticketing.models.commands import CommentEvent, IgnoredEvent
from ticketing.models.comments import Comment, CommentStatus, derive_status
from ticketing.models.records import Channel
from ticketing.services.comments import (
    _apply_event,
    comment_ref_for,
    commenter_customer_id,
    private_reply_message_id,
    private_reply_refusal,
)

T0_DT = datetime.fromtimestamp(T0 // 1000, tz=UTC)


def commands(channel: str, payload: object) -> list[object]:
    adapter = get_adapter(channel)
    parsed = adapter.parse(json.dumps(payload).encode())
    return list(adapter.commands(parsed))


def event_commands(name: str) -> list[object]:
    event = load_event(name)
    channel = event["pathParameters"]["channel"]
    adapter = get_adapter(channel)
    return list(adapter.commands(adapter.parse(event["body"].encode())))


# ---------------------------------------------------------------------------- adapters
def test_facebook_feed_comment_becomes_a_comment_command() -> None:
    # GIVEN the signed sample of a Page feed comment; WHEN translated
    (command,) = event_commands("webhook_messenger_comment")
    # THEN a comment add with the thread, the author (not a PSID) and the channel time
    assert command == CommentEvent(
        channel=Channel.MESSENGER,
        account_id=MESSENGER_PAGE_ID,
        verb="add",
        comment_id=samples.FB_COMMENT_ID,
        post_id=samples.FB_POST_ID,
        parent_id=None,
        author_id=samples.FB_AUTHOR_ID,
        author_name="Jane Doe",
        text="Price? Is it still available in red?",
        at=T0_DT,
    )


def test_facebook_reply_to_a_comment_keeps_its_parent() -> None:
    change = samples.feed_change(
        "add", comment_id="c2", parent_id=samples.FB_COMMENT_ID, author_id="7300000000000005"
    )
    (command,) = commands("messenger", samples.feed_payload(change))
    assert isinstance(command, CommentEvent)
    assert (command.post_id, command.parent_id) == (samples.FB_POST_ID, samples.FB_COMMENT_ID)


@pytest.mark.parametrize(
    ("name", "verb", "text"),
    [
        ("webhook_messenger_comment_edited", "edited", "Price? Is it still available in blue?"),
        ("webhook_messenger_comment_removed", "remove", None),
    ],
)
def test_facebook_edits_and_removals(name: str, verb: str, text: str | None) -> None:
    (command,) = event_commands(name)
    assert isinstance(command, CommentEvent)
    assert (command.verb, command.comment_id, command.text) == (verb, samples.FB_COMMENT_ID, text)


def test_the_pages_own_comment_is_ignored() -> None:
    (command,) = event_commands("webhook_messenger_page_comment")
    assert isinstance(command, IgnoredEvent)
    assert command.reason == "the page's own comment"


@pytest.mark.parametrize(
    "value",
    [
        {"item": "reaction", "verb": "add", "post_id": "p", "reaction_type": "like"},
        {"item": "status", "verb": "add", "post_id": "p"},
    ],
)
def test_other_feed_items_are_ignored(value: dict[str, object]) -> None:
    (command,) = commands("messenger", samples.feed_payload({"field": "feed", "value": value}))
    assert isinstance(command, IgnoredEvent)


def test_unknown_comment_verb_is_ignored() -> None:
    (command,) = commands("messenger", samples.feed_payload(samples.feed_change("block")))
    assert isinstance(command, IgnoredEvent)


def test_a_comment_without_its_ids_is_a_malformed_payload_at_parse() -> None:
    # (checked before the signature is: translation after it can never fail)
    change = samples.feed_change("add")
    del change["value"]["comment_id"]
    with pytest.raises(MalformedPayloadError):
        commands("messenger", samples.feed_payload(change))
    too_long = samples.ig_comment_change(comment_id="9" * 600)
    with pytest.raises(MalformedPayloadError):
        commands("instagram", samples.ig_payload(too_long))


def test_an_instagram_comment_without_media_is_kept_under_an_unknown_post() -> None:
    change = samples.ig_comment_change()
    del change["value"]["media"]
    (command,) = commands("instagram", samples.ig_payload(change))
    assert isinstance(command, CommentEvent)
    assert command.post_id == "unknown-media"


def test_messenger_messages_still_parse_next_to_changes() -> None:
    payload = samples.feed_payload(samples.feed_change("add"))
    payload["entry"][0]["messaging"] = [
        {
            "sender": {"id": "psid-1"},
            "recipient": {"id": MESSENGER_PAGE_ID},
            "timestamp": T0,
            "message": {"mid": "m1", "text": "hi"},
        }
    ]
    kinds = [getattr(c, "kind", None) for c in commands("messenger", payload)]
    assert kinds == ["customer_message", "comment"]


def test_instagram_comment_becomes_a_comment_command() -> None:
    (command,) = event_commands("webhook_instagram_comment")
    assert command == CommentEvent(
        channel=Channel.INSTAGRAM,
        account_id=INSTAGRAM_ACCOUNT_ID,
        verb="add",
        comment_id=samples.IG_COMMENT_ID,
        post_id=samples.IG_MEDIA_ID,
        author_id=samples.IG_AUTHOR_IGSID,
        author_name="jane.buys",
        text="How much is this bag? 😍",
        at=T0_DT + timedelta(seconds=30),
        media_product_type="FEED",
        live=False,
    )


def test_instagram_live_comment_is_marked_live() -> None:
    (command,) = event_commands("webhook_instagram_live_comment")
    assert isinstance(command, CommentEvent)
    assert command.live is True


def test_instagram_comment_id_key_is_accepted_and_own_comments_ignored() -> None:
    change = samples.ig_comment_change()
    change["value"]["comment_id"] = change["value"].pop("id")
    own = samples.ig_comment_change(comment_id="c-own", igsid=INSTAGRAM_ACCOUNT_ID)
    first, second = commands("instagram", samples.ig_payload(change, own))
    assert isinstance(first, CommentEvent)
    assert first.comment_id == samples.IG_COMMENT_ID
    assert isinstance(second, IgnoredEvent)
    assert second.reason == "the account's own comment"


def test_instagram_other_changes_stay_ignored() -> None:
    payload = samples.ig_payload({"field": "mentions", "value": {"media_id": "1"}})
    (command,) = commands("instagram", payload)
    assert isinstance(command, IgnoredEvent)


def test_instagram_entry_time_in_milliseconds_is_understood() -> None:
    (command,) = commands("instagram", samples.ig_payload(samples.ig_comment_change(), ts=T0))
    assert isinstance(command, CommentEvent)
    assert command.at == T0_DT


# ---------------------------------------------------------------------------- rules
def comment(**changes: object) -> Comment:
    base = Comment(
        workspace_id="ws",
        comment_ref="cm_1",
        channel=Channel.MESSENGER,
        account_id="page",
        comment_id="c1",
        post_id="p1",
        author_id="u1",
        text="first",
        text_at=T0_DT,
        created_at=T0_DT,
        received_at=T0_DT,
    )
    return base.model_copy(update=changes)


def test_status_is_derived_in_priority_order() -> None:
    assert derive_status(comment()) is CommentStatus.NEW
    assert derive_status(comment(replied_at=T0_DT)) is CommentStatus.REPLIED
    assert derive_status(comment(replied_at=T0_DT, ticket_id="t")) is CommentStatus.CONVERTED
    assert derive_status(comment(ticket_id="t", hidden_at=T0_DT)) is CommentStatus.HIDDEN
    assert derive_status(comment(hidden_at=T0_DT, removed_at=T0_DT)) is CommentStatus.REMOVED


def edit(text: str, at: datetime) -> CommentEvent:
    return CommentEvent(
        channel=Channel.MESSENGER,
        account_id="page",
        verb="edited",
        comment_id="c1",
        post_id="p1",
        text=text,
        at=at,
    )


def test_an_edit_keeps_the_earlier_text_and_stale_edits_change_nothing() -> None:
    later = T0_DT + timedelta(minutes=1)
    edited, outcome = _apply_event(comment(), edit("second", later), later)
    assert outcome == "comment_edited"
    assert edited is not None
    assert edited.text == "second"
    assert edited.text_at == later
    assert [(r.text, r.at) for r in edited.history] == [("first", T0_DT)]
    # a redelivery, or an older edit arriving late, changes nothing
    assert _apply_event(edited, edit("second", later), later) == (None, "comment_stale")
    assert _apply_event(edited, edit("older", T0_DT), T0_DT) == (None, "comment_stale")


def test_private_reply_rules() -> None:
    now = T0_DT + timedelta(days=1)
    mine = private_reply_message_id("ws", "cm_1", "ui-1")
    assert private_reply_refusal(comment(), mine, now) is None
    assert private_reply_refusal(comment(), mine, T0_DT + timedelta(days=7, seconds=1)) == (
        "window_closed"
    )
    sent = comment(private_reply_message_id=mine)
    assert private_reply_refusal(sent, mine, now) is None  # the same request, retried
    other = private_reply_message_id("ws", "cm_1", "ui-2")
    assert private_reply_refusal(sent, other, now) == "already_sent"
    assert private_reply_refusal(comment(removed_at=now), mine, now) == "removed"
    live = comment(channel=Channel.INSTAGRAM, live=True)
    assert private_reply_refusal(live, mine, T0_DT + timedelta(hours=1)) is None
    assert private_reply_refusal(live, mine, T0_DT + timedelta(hours=5)) == "live_ended"
    assert private_reply_refusal(comment(author_id=None), mine, now) == "unsupported"


def test_commenter_ids() -> None:
    # Facebook: a placeholder (the feed id is not a PSID); Instagram: the IGSID itself
    assert commenter_customer_id(Channel.MESSENGER, "73") == "fb-user:73"
    assert commenter_customer_id(Channel.INSTAGRAM, "73") == "73"
    assert comment_ref_for("messenger", "p", "c") == comment_ref_for(Channel.MESSENGER, "p", "c")
    assert comment_ref_for("messenger", "p", "c") != comment_ref_for("instagram", "p", "c")


# ---------------------------------------------------------------------------- fuzzing
FEED_SAMPLE = samples.feed_payload(
    samples.feed_change("add"),
    samples.feed_change("edited", comment_id="c2", parent_id=samples.FB_COMMENT_ID),
    {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "p"}},
)
IG_SAMPLE = samples.ig_payload(
    samples.ig_comment_change(),
    samples.ig_comment_change(comment_id="c2", field="live_comments", parent_id="c1"),
)


@settings(max_examples=200)
@given(mutated(FEED_SAMPLE))
def test_fuzz_mutated_feed_comments(value: Any) -> None:
    # any mutant either is refused at parse (400) or translates without error
    parse_and_translate(MessengerAdapter(), MessengerWebhook, json.dumps(value).encode())


@settings(max_examples=200)
@given(mutated(IG_SAMPLE))
def test_fuzz_mutated_instagram_comments(value: Any) -> None:
    parse_and_translate(InstagramAdapter(), InstagramWebhook, json.dumps(value).encode())
