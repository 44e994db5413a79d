"""A message bigger than a DynamoDB item (400 KB) must still be accepted once: stored cut, flagged,
and a redelivery is a duplicate — never a 5xx the channel would retry forever."""

from __future__ import annotations

import json

import pytest

from functions.webhook_ingest.app import lambda_handler as ingest
from tests.helpers import FakeLambdaContext, unique
from ticketing.services.ingest import MAX_STORED_TEXT_CHARS, conversation_id_for

pytestmark = pytest.mark.integration


def test_an_oversized_text_is_stored_cut_and_flagged_once(accounts, repo):
    # GIVEN a Messenger message of 300,000 two-byte characters (600 KB of UTF-8)
    mid = unique("mid-")
    text = "é" * 300_000
    event = accounts.messenger(accounts.messenger_message(mid, text, psid="psid-big"))
    # WHEN it is delivered, then delivered again
    first = ingest(event, FakeLambdaContext())
    again = ingest(event, FakeLambdaContext())
    # THEN it was accepted once, and the retry was a duplicate
    assert first["statusCode"] == 200, first["body"]
    assert json.loads(first["body"])["outcomes"] == {"created": 1}
    assert json.loads(again["body"])["outcomes"] == {"duplicate": 1}
    conversation = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, "psid-big")
    )
    page = repo.list_messages(accounts.workspace_id, conversation.open_ticket_id, 10, None)
    (message,) = page.items
    assert message.channel_message_id == mid
    assert message.text == "é" * MAX_STORED_TEXT_CHARS
    assert message.text_truncated is True


def test_a_normal_text_is_not_flagged(accounts, repo):
    event = accounts.messenger(accounts.messenger_message(unique("mid-"), "hi", psid="psid-small"))
    assert ingest(event, FakeLambdaContext())["statusCode"] == 200
    conversation = repo.get_conversation(
        accounts.workspace_id, conversation_id_for("messenger", accounts.page_id, "psid-small")
    )
    (message,) = repo.list_messages(
        accounts.workspace_id, conversation.open_ticket_id, 10, None
    ).items
    assert message.text == "hi"
    assert message.text_truncated is False
