"""WhatsApp Cloud API adapter (shared/channels.md §2.3): payloads, commands, signature, fuzz."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from tests.unit.fuzzing import mutated, parse_and_translate, parse_fuzz_tests
from ticketing.channels import get_adapter
from ticketing.channels.whatsapp import WhatsAppAdapter, WhatsAppWebhook
from ticketing.errors import MalformedPayloadError
from ticketing.models.commands import (
    CustomerMessageReceived,
    DeliveryStatusReported,
    IgnoredEvent,
)
from ticketing.models.records import AttachmentType, Channel, ChannelConnection

ADAPTER = WhatsAppAdapter()
SECRET = "whatsapp-app-secret"
WABA_ID = "102290129340398"
PNID = "106540352242922"
WA_ID = "16315551181"
WAMID = "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
TS = "1700000000"
AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def connection(account_id: str = PNID) -> ChannelConnection:
    return ChannelConnection(
        channel=Channel.WHATSAPP,
        account_id=account_id,
        workspace_id="ws-1",
        secret_ref="local:whatsapp",
    )


def sign(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}"}


def message(type_: str, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"from": WA_ID, "id": WAMID, "timestamp": TS, "type": type_}
    if body is not None:
        msg[type_] = body
    msg.update(extra)
    return msg


def webhook(
    *messages: dict[str, Any],
    statuses: list[dict[str, Any]] | None = None,
    pnid: str = PNID,
    name: str | None = "Sheena Nelson",
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": WA_ID}]
        value["messages"] = list(messages)
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def commands_of(payload: dict[str, Any]) -> list[Any]:
    parsed = ADAPTER.parse(json.dumps(payload).encode())
    return ADAPTER.commands(parsed)


def only(payload: dict[str, Any]) -> Any:
    [command] = commands_of(payload)
    return command


# ------------------------------------------------------------------------------- messages
def test_channels_md_sample_becomes_a_customer_message() -> None:
    # GIVEN the sample of channels.md §2.3
    raw = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"<WABA_ID>","changes":[{"field":'
        b'"messages","value":{"metadata":{"phone_number_id":"<PNID>"},"contacts":[{"wa_id":'
        b'"<WA_ID>"}],"messages":[{"from":"<WA_ID>","id":"wamid.<ID>","timestamp":"1700000000",'
        b'"type":"text","text":{"body":"Hi"}}]}}]}]}'
    )
    # WHEN
    payload = ADAPTER.parse(raw)
    commands = ADAPTER.commands(payload)
    # THEN it routes on the phone number id, not the WABA id
    assert ADAPTER.account_ids(payload) == {"<PNID>"}
    assert commands == [
        CustomerMessageReceived(
            channel=Channel.WHATSAPP,
            account_id="<PNID>",
            customer_id="<WA_ID>",
            channel_message_id="wamid.<ID>",
            sent_at=AT,
            text="Hi",
        )
    ]


def test_profile_name_becomes_the_customer_name() -> None:
    command = only(webhook(message("text", {"body": "Hello"})))
    assert command.customer_name == "Sheena Nelson"
    assert command.customer_id == WA_ID


def test_timestamp_may_also_be_a_number() -> None:
    command = only(webhook(message("text", {"body": "x"}, timestamp=1700000000)))
    assert command.sent_at == AT


@pytest.mark.parametrize(
    ("type_", "body", "kind", "text", "title"),
    [
        (
            "image",
            {"caption": "this one", "mime_type": "image/jpeg", "sha256": "abc", "id": "1003383"},
            AttachmentType.IMAGE,
            "this one",
            None,
        ),
        ("video", {"mime_type": "video/mp4", "id": "2003383"}, AttachmentType.VIDEO, None, None),
        (
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "id": "3003383", "voice": True},
            AttachmentType.AUDIO,
            None,
            None,
        ),
        (
            "document",
            {"filename": "invoice.pdf", "mime_type": "application/pdf", "id": "4003383"},
            AttachmentType.FILE,
            None,
            "invoice.pdf",
        ),
        (
            "sticker",
            {"mime_type": "image/webp", "id": "5003383", "animated": False},
            AttachmentType.STICKER,
            None,
            None,
        ),
    ],
)
def test_media_keeps_media_id_and_mime_type(
    type_: str, body: dict[str, Any], kind: AttachmentType, text: str | None, title: str | None
) -> None:
    # WHEN
    command = only(webhook(message(type_, body)))
    # THEN the media is referenced by id (fetched later with a token), never by URL
    assert isinstance(command, CustomerMessageReceived)
    assert command.text == text
    [attachment] = command.attachments
    assert attachment.type is kind
    assert attachment.media_id == body["id"]
    assert attachment.mime_type == body["mime_type"]
    assert attachment.title == title
    assert attachment.url is None


def test_location_becomes_a_geo_url() -> None:
    body = {"latitude": 13.7563, "longitude": 100.5018, "name": "Shop", "address": "Bangkok"}
    command = only(webhook(message("location", body)))
    [attachment] = command.attachments
    assert attachment.type is AttachmentType.LOCATION
    assert attachment.url == "geo:13.7563,100.5018"
    assert attachment.title == "Shop · Bangkok"


def test_shared_contacts_become_other_attachments() -> None:
    contacts = [
        {
            "name": {"formatted_name": "Somchai P.", "first_name": "Somchai"},
            "phones": [{"phone": "+66 81 234 5678", "wa_id": "66812345678", "type": "CELL"}],
        }
    ]
    command = only(webhook(message("contacts", contacts=contacts)))
    [attachment] = command.attachments
    assert attachment.type is AttachmentType.OTHER
    assert attachment.title == "contact: Somchai P. +66 81 234 5678"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes"}}, "Yes"),
        (
            {
                "type": "list_reply",
                "list_reply": {"id": "sz-m", "title": "Size M", "description": "Medium"},
            },
            "Size M",
        ),
    ],
)
def test_interactive_reply_title_is_the_text(body: dict[str, Any], text: str) -> None:
    command = only(webhook(message("interactive", body)))
    assert command.text == text
    assert command.attachments == ()


def test_flow_reply_without_title_is_an_other_attachment() -> None:
    body = {"type": "nfm_reply", "nfm_reply": {"response_json": "{}", "name": "flow"}}
    command = only(webhook(message("interactive", body)))
    assert command.text is None
    assert command.attachments[0].title == "interactive nfm_reply"


def test_template_quick_reply_button_text() -> None:
    command = only(webhook(message("button", {"text": "Track order", "payload": "TRACK"})))
    assert command.text == "Track order"


def test_reaction_carries_emoji_and_target() -> None:
    command = only(webhook(message("reaction", {"message_id": "wamid.OUT", "emoji": "👍"})))
    assert command.text == "👍"
    assert command.attachments[0].title == "reaction to wamid.OUT"


def test_unsupported_message_is_kept_as_other() -> None:
    errors = [{"code": 131051, "title": "Message type unknown"}]
    command = only(webhook(message("unsupported", errors=errors)))
    assert isinstance(command, CustomerMessageReceived)
    assert command.attachments[0].type is AttachmentType.OTHER
    assert command.attachments[0].title == "unsupported message"


def test_system_message_is_ignored() -> None:
    body = {"body": "User changed number", "type": "user_changed_number"}
    command = only(webhook(message("system", body)))
    assert isinstance(command, IgnoredEvent)
    assert command.account_id == PNID


# ------------------------------------------------------------------------------- statuses
@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_status_reports_move_outbound_messages(status: str) -> None:
    # GIVEN a status for an outbound message
    statuses = [
        {
            "id": "wamid.OUT",
            "status": status,
            "timestamp": "1700000100",
            "recipient_id": WA_ID,
            "conversation": {"id": "c1", "origin": {"type": "service"}},
            "pricing": {"billable": True, "category": "service"},
        }
    ]
    # WHEN
    command = only(webhook(statuses=statuses))
    # THEN
    assert command == DeliveryStatusReported(
        channel=Channel.WHATSAPP,
        account_id=PNID,
        channel_message_id="wamid.OUT",
        status=status,
        at=datetime(2023, 11, 14, 22, 15, tzinfo=UTC),
    )


def test_failed_status_carries_the_error() -> None:
    statuses = [
        {
            "id": "wamid.OUT",
            "status": "failed",
            "timestamp": "1700000100",
            "recipient_id": WA_ID,
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "More than 24 hours have passed"},
                }
            ],
        }
    ]
    command = only(webhook(statuses=statuses))
    assert command.status == "failed"
    assert command.error == "131047: Re-engagement message"


def test_unknown_status_is_ignored() -> None:
    statuses = [{"id": "wamid.OUT", "status": "deleted", "timestamp": TS, "recipient_id": WA_ID}]
    command = only(webhook(statuses=statuses))
    assert isinstance(command, IgnoredEvent)


def test_message_and_statuses_in_one_value_give_one_command_each() -> None:
    statuses = [
        {"id": "wamid.A", "status": "delivered", "timestamp": TS},
        {"id": "wamid.A", "status": "read", "timestamp": TS},
    ]
    commands = commands_of(webhook(message("text", {"body": "hi"}), statuses=statuses))
    assert [c.kind for c in commands] == ["customer_message", "delivery_status", "delivery_status"]


# ------------------------------------------------------------------------ batches and fields
def test_batch_for_two_phone_numbers_names_both_accounts() -> None:
    # GIVEN two entries, each for another phone number
    first = webhook(message("text", {"body": "one"}))
    second = webhook(message("text", {"body": "two"}, id="wamid.B"), pnid="222")
    payload = {"object": first["object"], "entry": first["entry"] + second["entry"]}
    # WHEN
    parsed = ADAPTER.parse(json.dumps(payload).encode())
    # THEN
    assert ADAPTER.account_ids(parsed) == {PNID, "222"}
    commands = ADAPTER.commands(parsed)
    assert all(isinstance(c, CustomerMessageReceived) for c in commands)
    assert [(c.account_id, getattr(c, "text", None)) for c in commands] == [
        (PNID, "one"),
        ("222", "two"),
    ]


def test_other_field_with_a_phone_number_is_ignored() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "message_echoes",
                        "value": {"metadata": {"phone_number_id": PNID}, "echoes": [{}]},
                    }
                ],
            }
        ],
    }
    command = only(payload)
    assert isinstance(command, IgnoredEvent)
    assert command.account_id == PNID


def test_waba_level_change_names_no_account_and_no_command() -> None:
    # GIVEN a template status update: it names the WABA only, never a connected phone number
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_id": 1},
                    }
                ],
            }
        ],
    }
    # WHEN
    parsed = ADAPTER.parse(json.dumps(payload).encode())
    # THEN an unconnected WABA cannot fail the request as "unknown account"
    assert ADAPTER.account_ids(parsed) == set()
    assert ADAPTER.commands(parsed) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account"},
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {}}]}],
        },
        webhook(message("text", {"body": "x"}, timestamp="yesterday")),
        webhook(message("text", {"body": "x"}, timestamp="-5")),
        webhook(message("text", {"body": "x"}, timestamp=str(10**20))),
        webhook({"id": WAMID, "timestamp": TS, "type": "text"}),
    ],
)
def test_malformed_payloads_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayloadError):
        ADAPTER.parse(json.dumps(payload).encode())


def test_registered_in_the_channel_registry() -> None:
    assert isinstance(get_adapter("whatsapp"), WhatsAppAdapter)


# ------------------------------------------------------------------------------ signature
def test_signature_over_the_raw_body_verifies() -> None:
    raw = json.dumps(webhook(message("text", {"body": "Hi"}))).encode()
    assert ADAPTER.verify(raw, sign(raw), SECRET, connection())


def test_non_ascii_text_is_signed_as_meta_escapes_it() -> None:
    # GIVEN Meta's body: non-ASCII escaped as \uXXXX, signed as sent
    raw = json.dumps(webhook(message("text", {"body": "สวัสดีครับ 👋"}))).encode()
    assert b"\\u0e2a" in raw
    # WHEN / THEN the escaped bytes verify and parse to the real text
    assert ADAPTER.verify(raw, sign(raw), SECRET, connection())
    assert only(json.loads(raw)).text == "สวัสดีครับ 👋"
    # and a signature over re-serialised (unescaped) JSON does not
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    assert not ADAPTER.verify(raw, sign(reserialised), SECRET, connection())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature-256": ""},
        {"x-hub-signature-256": "sha256=" + "0" * 64},
        {"x-hub-signature": "sha1=" + "0" * 40},
    ],
)
def test_missing_or_wrong_signature_fails(headers: dict[str, str]) -> None:
    raw = json.dumps(webhook(message("text", {"body": "Hi"}))).encode()
    assert not ADAPTER.verify(raw, headers, SECRET, connection())


def test_other_secret_or_tampered_body_fails() -> None:
    raw = json.dumps(webhook(message("text", {"body": "Hi"}))).encode()
    assert not ADAPTER.verify(raw, sign(raw, "another-secret"), SECRET, connection())
    assert not ADAPTER.verify(raw.replace(b"Hi", b"Ho"), sign(raw), SECRET, connection())


def test_handshake_echoes_the_challenge_only_for_the_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert ADAPTER.handshake_supported
    assert ADAPTER.handshake(query, "tok") == "1158201444"
    assert ADAPTER.handshake(query, "other") is None
    assert ADAPTER.handshake(query, None) is None


# ----------------------------------------------------------------------------------- fuzz
def parses_or_refuses(raw: bytes) -> WhatsAppWebhook | None:
    return parse_and_translate(ADAPTER, WhatsAppWebhook, raw)


test_fuzz_arbitrary_bytes, test_fuzz_arbitrary_json = parse_fuzz_tests(parses_or_refuses)


SAMPLE = webhook(
    message("text", {"body": "hi"}),
    message("image", {"id": "1", "mime_type": "image/jpeg"}),
    message("location", {"latitude": 1.5, "longitude": 2.5}),
    message("interactive", {"type": "button_reply", "button_reply": {"id": "a", "title": "A"}}),
    message("reaction", {"message_id": "wamid.X", "emoji": "❤"}),
    statuses=[{"id": "wamid.O", "status": "failed", "timestamp": TS, "errors": [{"code": 1}]}],
)


@settings(max_examples=200)
@given(mutated(SAMPLE))
def test_fuzz_mutated_sample(value: Any) -> None:
    parses_or_refuses(json.dumps(value).encode())
