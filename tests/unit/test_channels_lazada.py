"""Lazada Chat adapter (shared/channels.md §2.6): payload variants, signature variants, fuzz."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fuzzing import mutated, parse_and_translate, parse_fuzz_tests
from ticketing.channels import get_adapter
from ticketing.channels.lazada import SESSION_UPDATE_REASON, LazadaAdapter, LazadaPush
from ticketing.errors import MalformedPayloadError
from ticketing.models.commands import CustomerMessageReceived, IgnoredEvent, OutboundMessageSeen
from ticketing.models.records import AttachmentType, Channel, ChannelConnection

ADAPTER = LazadaAdapter()
APP_KEY = "123456"
APP_SECRET = "lazada-app-secret"
SELLER_ID = "200123456789"
SESSION_ID = "100001_2_200123456789_1_600123456789"
SEND_MS = 1700000000123
AT = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def connection(**options: str) -> ChannelConnection:
    return ChannelConnection(
        channel=Channel.LAZADA,
        account_id=SELLER_ID,
        workspace_id="ws-1",
        secret_ref="local:lazada",
        options={"app_key": APP_KEY, **options},
    )


def sign(raw: bytes, app_key: str | None = APP_KEY, secret: str = APP_SECRET) -> dict[str, str]:
    signed = raw if app_key is None else app_key.encode() + raw
    return {"authorization": hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}


def session_update() -> dict[str, Any]:
    return {
        "seller_id": SELLER_ID,
        "message_type": 19,
        "data": {
            "sync_type": "SESSION_UPDATE",
            "session_id": SESSION_ID,
            "user_account_type": 2,
            "unread_count": 0,
        },
        "timestamp": 1700000001,
        "site": "lazada_th",
    }


def message_push(
    content: Any = '{"txt":"Hi"}', *, from_account_type: Any = 1, **data: Any
) -> dict[str, Any]:
    return {
        "seller_id": SELLER_ID,
        "message_type": 19,
        "data": {
            "session_id": SESSION_ID,
            "message_id": "1e2b3c4d5f6a",
            "from_account_type": from_account_type,
            "from_account_id": "600123456789",
            "to_account_type": 2,
            "to_account_id": SELLER_ID,
            "send_time": SEND_MS,
            "type": 1,
            "template_id": 1,
            "content": content,
            **data,
        },
        "timestamp": 1700000001,
        "site": "lazada_th",
    }


def commands_of(payload: dict[str, Any]) -> list[Any]:
    return ADAPTER.commands(ADAPTER.parse(json.dumps(payload).encode()))


def only(payload: dict[str, Any]) -> Any:
    [command] = commands_of(payload)
    return command


# ------------------------------------------------------------------------ session updates
def test_channels_md_sample_is_a_session_update_to_fetch_later() -> None:
    # GIVEN the sample of channels.md §2.6
    raw = (
        b'{"seller_id":"<SELLER_ID>","message_type":19,"data":{"sync_type":"SESSION_UPDATE",'
        b'"session_id":"<SESSION_ID>","user_account_type":2,"unread_count":0}}'
    )
    # WHEN
    payload = ADAPTER.parse(raw)
    # THEN acknowledged; the message itself is fetched via /im/message/list (future work)
    assert ADAPTER.account_ids(payload) == {"<SELLER_ID>"}
    assert ADAPTER.commands(payload) == [
        IgnoredEvent(channel=Channel.LAZADA, account_id="<SELLER_ID>", reason=SESSION_UPDATE_REASON)
    ]
    assert SESSION_UPDATE_REASON == "session update: fetch via /im/message/list"


def test_session_update_with_site_and_numeric_seller() -> None:
    payload = {**session_update(), "seller_id": 200123456789}
    parsed = ADAPTER.parse(json.dumps(payload).encode())
    assert ADAPTER.account_ids(parsed) == {SELLER_ID}
    assert parsed.site == "lazada_th"
    [command] = ADAPTER.commands(parsed)
    assert isinstance(command, IgnoredEvent)
    assert command.reason == SESSION_UPDATE_REASON


def test_other_message_types_are_ignored() -> None:
    payload = {
        "seller_id": SELLER_ID,
        "message_type": 0,
        "data": {"trade_order_id": "1", "status": "x"},
    }
    command = only(payload)
    assert isinstance(command, IgnoredEvent)
    assert command.reason == "message_type 0"


# ------------------------------------------------------------------------------- messages
def test_buyer_message_is_a_customer_message_on_the_session() -> None:
    # WHEN
    command = only(message_push())
    # THEN the session is the thread (customer id), send_time is in ms
    assert command == CustomerMessageReceived(
        channel=Channel.LAZADA,
        account_id=SELLER_ID,
        customer_id=SESSION_ID,
        channel_message_id="1e2b3c4d5f6a",
        sent_at=AT,
        text="Hi",
    )


def test_seller_message_is_outbound_on_the_same_session() -> None:
    command = only(message_push('{"txt":"Thanks"}', from_account_type=2, to_account_id=None))
    assert isinstance(command, OutboundMessageSeen)
    assert (command.customer_id, command.text) == (SESSION_ID, "Thanks")


def test_fields_as_strings_like_the_message_api() -> None:
    payload = message_push(from_account_type="1", send_time=str(SEND_MS), type="1")
    assert only(payload).sent_at == AT


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"txt": "สวัสดีค่ะ"}, "สวัสดีค่ะ"),
        ('{"text": "Xin chào"}', "Xin chào"),
        ("plain words, not JSON", "plain words, not JSON"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_text_content_shapes(content: Any, text: str) -> None:
    command = only(message_push(content))
    assert command.text == text
    assert command.attachments == ()


@pytest.mark.parametrize(
    ("content", "kind", "url", "title"),
    [
        (
            '{"imgUrl":"https://sg-live.slatic.net/p/a.jpg"}',
            AttachmentType.IMAGE,
            "https://sg-live.slatic.net/p/a.jpg",
            None,
        ),
        (
            {"videoUrl": "https://v.lazcdn.com/v.mp4"},
            AttachmentType.VIDEO,
            "https://v.lazcdn.com/v.mp4",
            None,
        ),
        ({"itemId": 3456789012, "title": "Shoes"}, AttachmentType.OTHER, None, "item 3456789012"),
        ({"orderId": "987654321"}, AttachmentType.OTHER, None, "order 987654321"),
        ({"emojiCode": "[smile]"}, AttachmentType.OTHER, None, "message type 1"),
    ],
)
def test_non_text_content(
    content: Any, kind: AttachmentType, url: str | None, title: str | None
) -> None:
    command = only(message_push(content))
    [attachment] = command.attachments
    assert (attachment.type, attachment.url, attachment.title) == (kind, url, title)


def test_missing_send_time_falls_back_to_push_timestamp_in_seconds_or_ms() -> None:
    seconds = message_push(send_time=None)
    seconds["data"].pop("send_time")
    assert only(seconds).sent_at == datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC)
    millis = {**seconds, "timestamp": SEND_MS}
    assert only(millis).sent_at == AT


def test_message_from_another_account_type_is_ignored() -> None:
    command = only(message_push(from_account_type=3))
    assert isinstance(command, IgnoredEvent)


@pytest.mark.parametrize(
    "payload",
    [
        {"message_type": 19, "data": {}},
        {"seller_id": "", "message_type": 19},
        {"seller_id": SELLER_ID},
        {"seller_id": SELLER_ID, "message_type": "session"},
        message_push(session_id=None),
        message_push(message_id=""),
        message_push(from_account_type="buyer"),
        message_push(send_time=-1),
        {**message_push(send_time=None), "timestamp": None},
    ],
)
def test_malformed_payloads_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayloadError):
        ADAPTER.parse(json.dumps(payload).encode())


def test_registered_in_the_channel_registry() -> None:
    assert isinstance(get_adapter("lazada"), LazadaAdapter)


# ------------------------------------------------------------------------------ signature
def test_default_variant_signs_app_key_and_body() -> None:
    raw = json.dumps(message_push({"txt": "ขอบคุณ"}), ensure_ascii=False).encode()
    assert ADAPTER.verify(raw, sign(raw), APP_SECRET, connection())
    assert not ADAPTER.verify(raw, sign(raw, app_key=None), APP_SECRET, connection())


def test_body_variant_signs_the_body_alone(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a connection set to the other documented variant
    raw = json.dumps(session_update()).encode()
    conn = connection(signature_variant="body")
    # THEN only a body-only signature verifies
    assert ADAPTER.verify(raw, sign(raw, app_key=None), APP_SECRET, conn)
    assert not ADAPTER.verify(raw, sign(raw), APP_SECRET, conn)
    # and the mismatch says which variant the signature did match
    assert "matches another variant" in caplog.text


def test_default_variant_without_app_key_fails() -> None:
    raw = json.dumps(session_update()).encode()
    conn = connection().model_copy(update={"options": {}})
    assert not ADAPTER.verify(raw, sign(raw), APP_SECRET, conn)


def test_uppercase_hex_is_accepted() -> None:
    raw = json.dumps(session_update()).encode()
    header = {"authorization": sign(raw)["authorization"].upper()}
    assert ADAPTER.verify(raw, header, APP_SECRET, connection())


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": ""}, {"authorization": "f" * 64}, {"x-lazada-sign": "x"}]
)
def test_missing_or_wrong_signature_fails(headers: dict[str, str]) -> None:
    raw = json.dumps(session_update()).encode()
    assert not ADAPTER.verify(raw, headers, APP_SECRET, connection())


def test_other_secret_tampered_body_or_unknown_variant_fails() -> None:
    raw = json.dumps(session_update()).encode()
    assert not ADAPTER.verify(raw, sign(raw, secret="other"), APP_SECRET, connection())
    assert not ADAPTER.verify(raw.replace(b"19", b"20"), sign(raw), APP_SECRET, connection())
    assert not ADAPTER.verify(raw, sign(raw), APP_SECRET, connection(signature_variant="md5"))


# ----------------------------------------------------------------------------------- fuzz
def parses_or_refuses(raw: bytes) -> LazadaPush | None:
    return parse_and_translate(ADAPTER, LazadaPush, raw)


test_fuzz_arbitrary_bytes, test_fuzz_arbitrary_json = parse_fuzz_tests(parses_or_refuses)


@settings(max_examples=200)
@given(
    st.sampled_from(
        [
            session_update(),
            message_push(),
            message_push({"imgUrl": "u", "itemId": 1, "orderId": "o"}, from_account_type=2),
            message_push('{"txt": "nested ' + "[" * 2000 + '"}'),
        ]
    ).flatmap(mutated)
)
def test_fuzz_mutated_sample(value: Any) -> None:
    parses_or_refuses(json.dumps(value).encode())


def test_deeply_nested_content_string_is_just_text() -> None:
    content = "[" * 100_000
    assert only(message_push(content)).text == content
