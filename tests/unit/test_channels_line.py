"""LINE adapter (channels.md §2.4): payload → commands, x-line-signature (Base64 HMAC-SHA256)."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.unit.fuzzing import (
    JSON_WITH_NAN,
    epoch_ms,
    parse_fuzz_tests,
    parse_or_refuse,
    shaper,
)
from ticketing.channels import get_adapter
from ticketing.channels.line import LineAdapter, LineWebhook
from ticketing.clock import to_ms
from ticketing.errors import MalformedPayloadError
from ticketing.models.commands import CustomerMessageReceived, IgnoredEvent
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection
from ticketing.services.webhooks import lower_headers

BOT = "U0000000000000000000000000000bot1"
USER = "U1111111111111111111111111111usr1"
SECRET = "line-channel-secret"
TS = 1700000000000  # 2023-11-14T22:13:20Z
AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

adapter = LineAdapter()
CONNECTION = ChannelConnection(
    channel=Channel.LINE, account_id=BOT, workspace_id="ws-1", secret_ref="local:line"
)


def raw(payload: Any) -> bytes:
    """As LINE sends it: UTF-8 JSON, non-ASCII not escaped."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    return adapter.verify(body, headers, secret, CONNECTION)


def webhook(*events: dict[str, Any]) -> Any:
    return {"destination": BOT, "events": list(events)}


def event(
    message: dict[str, Any] | None = None,
    *,
    type_: str = "message",
    source: dict[str, Any] | None = None,
    ts: int = TS,
    event_id: str = "01HEVENT000000000000000001",
    redelivery: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "mode": "active",
        "timestamp": ts,
        "source": source or {"type": "user", "userId": USER},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        **extra,
    }
    if type_ == "message":
        body["replyToken"] = "b60d432864f44d079f6d8efe86cf404b"
    if message is not None:
        body["message"] = message
    return body


def commands_of(payload: Any) -> list[Any]:
    return adapter.commands(adapter.parse(raw(payload)))


REPLY_TOKEN = "b60d432864f44d079f6d8efe86cf404b"  # every sample message event carries it


def customer(message_id: str, *, text: str | None = None, **kw: Any) -> Any:
    kw.setdefault("reply_token", REPLY_TOKEN)  # kept for outbound delivery (issue 8)
    return CustomerMessageReceived(
        channel=Channel.LINE,
        account_id=BOT,
        customer_id=USER,
        channel_message_id=message_id,
        sent_at=AT,
        text=text,
        **kw,
    )


def ignored(reason: str) -> Any:
    return IgnoredEvent(channel=Channel.LINE, account_id=BOT, reason=reason)


# ---------------------------------------------------------------------------- payload → commands
def test_text_message_channels_md_sample():
    # GIVEN a user's text message
    payload = webhook(
        event({"type": "text", "id": "468789577898262530", "quoteToken": "q", "text": "Hello"})
    )
    # WHEN parsed and translated
    parsed = adapter.parse(raw(payload))
    commands = adapter.commands(parsed)
    # THEN one customer message: bot account, userId customer, message id, time from ms
    assert adapter.account_ids(parsed) == {BOT}
    assert commands == [customer("468789577898262530", text="Hello")]


def test_thai_text_is_kept():
    # GIVEN a Thai message (raw UTF-8 on the wire)
    payload = webhook(event({"type": "text", "id": "m1", "text": "สวัสดีค่ะ มีสีแดงไหม"}))
    # WHEN translated
    # THEN the text is intact
    assert commands_of(payload) == [customer("m1", text="สวัสดีค่ะ มีสีแดงไหม")]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"type": "image", "id": "m_img", "contentProvider": {"type": "line"}},
            Attachment(type=AttachmentType.IMAGE, media_id="m_img"),
            id="image-on-line",
        ),
        pytest.param(
            {
                "type": "image",
                "id": "m_img2",
                "contentProvider": {
                    "type": "external",
                    "originalContentUrl": "https://cdn.example/full.jpg",
                    "previewImageUrl": "https://cdn.example/preview.jpg",
                },
                "imageSet": {"id": "E005D41A", "index": 1, "total": 2},
            },
            Attachment(
                type=AttachmentType.IMAGE, url="https://cdn.example/full.jpg", media_id="m_img2"
            ),
            id="image-external",
        ),
        pytest.param(
            {
                "type": "video",
                "id": "m_vid",
                "duration": 60000,
                "contentProvider": {"type": "line"},
            },
            Attachment(type=AttachmentType.VIDEO, media_id="m_vid"),
            id="video",
        ),
        pytest.param(
            {"type": "audio", "id": "m_aud", "duration": 6000},
            Attachment(type=AttachmentType.AUDIO, media_id="m_aud"),
            id="audio",
        ),
        pytest.param(
            {"type": "file", "id": "m_file", "fileName": "invoice.pdf", "fileSize": 2138},
            Attachment(type=AttachmentType.FILE, media_id="m_file", title="invoice.pdf"),
            id="file",
        ),
        pytest.param(
            {
                "type": "sticker",
                "id": "m_stk",
                "stickerId": "52002734",
                "packageId": "11537",
                "stickerResourceType": "ANIMATION",
                "keywords": ["Happy"],
            },
            Attachment(type=AttachmentType.STICKER, media_id="52002734"),
            id="sticker",
        ),
        pytest.param(
            {
                "type": "location",
                "id": "m_loc",
                "title": "my location",
                "address": "Bangkok, Thailand",
                "latitude": 13.7563,
                "longitude": 100.5018,
            },
            Attachment(
                type=AttachmentType.LOCATION,
                url="geo:13.7563,100.5018",
                title="Bangkok, Thailand",
            ),
            id="location",
        ),
        pytest.param(
            {"type": "location", "id": "m_loc2", "title": "pin"},
            Attachment(type=AttachmentType.LOCATION, title="pin"),
            id="location-without-coordinates",
        ),
    ],
)
def test_media_messages(message, expected):
    # GIVEN a user's media message
    payload = webhook(event(message))
    # WHEN translated
    commands = commands_of(payload)
    # THEN one customer message, no text, with the mapped attachment
    assert commands == [customer(message["id"], attachments=(expected,))]


def test_unknown_message_type_has_no_attachment():
    # GIVEN a message type we do not map
    payload = webhook(event({"type": "brand-new-type", "id": "m_new"}))
    # WHEN translated
    # THEN it is still stored as a customer message (nothing is silently dropped)
    assert commands_of(payload) == [customer("m_new")]


@pytest.mark.parametrize(
    ("extra", "type_"),
    [
        pytest.param({}, "follow", id="follow"),
        pytest.param({}, "unfollow", id="unfollow"),
        pytest.param({"postback": {"data": "action=buy&itemid=111"}}, "postback", id="postback"),
        pytest.param({"joined": {"members": []}}, "memberJoined", id="member-joined"),
        pytest.param({"unsend": {"messageId": "m1"}}, "unsend", id="unsend"),
    ],
)
def test_non_message_events_are_ignored(extra, type_):
    # GIVEN a follow/unfollow/postback/... event
    payload = webhook(event(type_=type_, **extra))
    # WHEN translated
    # THEN it is acknowledged, not stored, naming its type
    assert commands_of(payload) == [ignored(f"{type_} event")]


def test_message_event_without_message_is_ignored():
    # GIVEN a "message" event carrying no message
    payload = webhook(event())
    # WHEN translated
    # THEN it is ignored
    assert commands_of(payload) == [ignored("message event")]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"type": "group", "groupId": "Cgroup", "userId": USER}, id="group"),
        pytest.param({"type": "room", "roomId": "Rroom", "userId": USER}, id="room"),
        pytest.param({"type": "user"}, id="user-without-id"),
    ],
)
def test_group_and_room_chats_are_ignored(source):
    # GIVEN a text message in a group or room chat
    payload = webhook(event({"type": "text", "id": "m_g", "text": "hi all"}, source=source))
    # WHEN translated
    # THEN it is not a ticket
    assert commands_of(payload) == [ignored("group and room chats are not tickets")]


def test_redelivery_gives_the_same_command():
    # GIVEN the same message delivered, then redelivered (same ids, original timestamp)
    message = {"type": "text", "id": "m_rd", "text": "again?"}
    first = webhook(event(message))
    again = webhook(event(message, redelivery=True))
    # WHEN both are translated
    # THEN they give the very same command, so the store dedupes it
    assert adapter.parse(raw(again)).events[0].deliveryContext.isRedelivery is True
    assert commands_of(first) == commands_of(again) == [customer("m_rd", text="again?")]


def test_many_events_from_many_users_in_order():
    # GIVEN one POST carrying events from two users and a follow
    payload = webhook(
        event({"type": "text", "id": "m1", "text": "one"}),
        event(type_="follow", source={"type": "user", "userId": "Uother"}),
        event(
            {"type": "text", "id": "m2", "text": "two"},
            source={"type": "user", "userId": "Uother"},
            ts=TS + 1500,
        ),
    )
    # WHEN translated
    commands = commands_of(payload)
    # THEN one command per event, in payload order, each with its user and time
    assert commands == [
        customer("m1", text="one"),
        ignored("follow event"),
        CustomerMessageReceived(
            channel=Channel.LINE,
            account_id=BOT,
            customer_id="Uother",
            channel_message_id="m2",
            sent_at=datetime(2023, 11, 14, 22, 13, 21, 500_000, tzinfo=UTC),
            text="two",
            reply_token=REPLY_TOKEN,
        ),
    ]


def test_console_verify_has_no_events():
    # GIVEN the Console's "Verify" POST
    parsed = adapter.parse(raw({"destination": BOT, "events": []}))
    # WHEN translated
    # THEN the bot is named and there is nothing to store
    assert adapter.account_ids(parsed) == {BOT}
    assert adapter.commands(parsed) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b'{"destination":"","events":[]}', id="empty-destination"),
        pytest.param(b'{"destination":"U1"}', id="no-events"),
        pytest.param(b'{"destination":"U1","events":{}}', id="events-not-a-list"),
        pytest.param(
            b'{"destination":"U1","events":[{"type":"follow","timestamp":1}]}',
            id="no-webhookEventId",
        ),
        pytest.param(
            b'{"destination":"U1","events":[{"type":"follow","timestamp":-5,'
            b'"webhookEventId":"e"}]}',
            id="negative-timestamp",
        ),
        pytest.param(
            b'{"destination":"U1","events":[{"type":"follow","timestamp":1e30,'
            b'"webhookEventId":"e"}]}',
            id="timestamp-beyond-year-9999",
        ),
        pytest.param(
            b'{"destination":"U1","events":[{"type":"message","timestamp":1,'
            b'"webhookEventId":"e","source":{"type":"channel"}}]}',
            id="unknown-source-type",
        ),
        pytest.param(
            b'{"destination":"U1","events":[{"type":"message","timestamp":1,'
            b'"webhookEventId":"e","message":{"type":"text","id":"","text":"x"}}]}',
            id="empty-message-id",
        ),
        pytest.param('{"destination":"é"'.encode("latin-1"), id="latin-1-not-utf8"),
    ],
)
def test_malformed_payloads(body):
    # GIVEN a body that is not a LINE webhook
    # WHEN parsed
    # THEN our 400 error is raised
    with pytest.raises(MalformedPayloadError) as info:
        adapter.parse(body)
    assert info.value.status_code == 400
    assert info.value.details["errors"]


# ---------------------------------------------------------------------------- signatures
THAI = webhook(event({"type": "text", "id": "m_th", "text": "สวัสดีค่ะ ขอบคุณค่ะ"}))
BODY = raw(THAI)
HEX = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_correct_signature_over_utf8_thai_verifies():
    # GIVEN a Thai message signed over its UTF-8 bytes
    assert "สวัสดี".encode() in BODY
    headers = {"x-line-signature": signature(BODY)}
    # WHEN verified
    # THEN it passes
    assert verify(BODY, headers) is True


def test_ascii_escaped_copy_fails():
    # GIVEN the signature of the UTF-8 body and an \\uXXXX-escaped re-serialisation of it
    headers = {"x-line-signature": signature(BODY)}
    escaped = json.dumps(json.loads(BODY), separators=(",", ":"), ensure_ascii=True).encode()
    # WHEN the re-serialised copy is verified
    # THEN it fails: only the exact bytes verify
    assert escaped != BODY
    assert verify(escaped, headers) is False


def test_signature_through_request_headers_any_casing():
    # GIVEN LINE's header in another casing, lowercased as the service does
    headers = lower_headers({"X-Line-Signature": signature(BODY)})
    # WHEN verified
    # THEN it passes
    assert verify(BODY, headers) is True


@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_one_flipped_body_byte_fails(position, mask):
    # GIVEN a correct signature and the body with one byte changed
    headers = {"x-line-signature": signature(BODY)}
    tampered = bytearray(BODY)
    tampered[position % len(BODY)] ^= mask
    # WHEN verified
    # THEN it fails
    assert verify(bytes(tampered), headers) is False


@given(position=st.integers(min_value=0, max_value=31), mask=st.integers(1, 255))
def test_one_flipped_signature_byte_fails(position, mask):
    # GIVEN the signature's digest with one byte changed, Base64 again
    digest = bytearray(base64.b64decode(signature(BODY)))
    digest[position] ^= mask
    headers = {"x-line-signature": base64.b64encode(bytes(digest)).decode()}
    # WHEN verified
    # THEN it fails
    assert verify(BODY, headers) is False


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"x-line-signature": ""}, id="empty"),
        pytest.param({"x-line-signature": HEX}, id="hex-instead-of-base64"),
        pytest.param({"x-hub-signature-256": "sha256=" + HEX}, id="meta-header"),
    ],
)
def test_missing_or_wrong_header_fails(headers):
    # GIVEN no usable x-line-signature
    # WHEN verified
    # THEN it fails
    assert verify(BODY, headers) is False


def test_wrong_secret_fails():
    # GIVEN a body signed with another channel's secret
    headers = {"x-line-signature": signature(BODY, "other-channel-secret")}
    # WHEN verified with ours
    # THEN it fails
    assert verify(BODY, headers) is False


def test_line_has_no_handshake():
    # GIVEN a Meta-style subscription query
    query = {"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "c"}
    # WHEN LINE's adapter is asked for the handshake
    # THEN it refuses (LINE has no GET verification)
    assert adapter.handshake(query, "t") is None
    assert get_adapter("line").handshake_supported is False


# ---------------------------------------------------------------------------- fuzz
def line_like(*, noisy: bool) -> st.SearchStrategy[Any]:
    """Payloads of LINE's shape. ``noisy``: any field may also be any JSON leaf instead."""

    shaped = shaper(noisy=noisy)
    ids = st.text(min_size=1, max_size=8)
    timestamps = epoch_ms(noisy=noisy)
    source = shaped(
        st.fixed_dictionaries(
            {"type": shaped(st.sampled_from(["user", "group", "room"]))},
            optional={"userId": shaped(ids), "groupId": shaped(ids), "roomId": shaped(ids)},
        )
    )
    message = shaped(
        st.fixed_dictionaries(
            {
                "id": shaped(ids),
                "type": shaped(
                    st.sampled_from(["text", "image", "sticker", "location", "file", "x"])
                ),
            },
            optional={
                "text": shaped(st.text(max_size=5)),
                "stickerId": shaped(ids),
                "fileName": shaped(ids),
                "latitude": shaped(st.floats(-90, 90)),
                "longitude": shaped(st.floats(-180, 180)),
                "contentProvider": shaped(
                    st.fixed_dictionaries(
                        {"type": st.sampled_from(["line", "external"])},
                        optional={"originalContentUrl": shaped(ids)},
                    )
                ),
            },
        )
    )
    line_event = st.fixed_dictionaries(
        {
            "type": shaped(st.sampled_from(["message", "follow", "postback"])),
            "timestamp": shaped(timestamps),
            "webhookEventId": shaped(ids),
        },
        optional={
            "source": source,
            "message": message,
            "mode": shaped(st.sampled_from(["active", "standby"])),
            "deliveryContext": shaped(
                st.fixed_dictionaries({"isRedelivery": shaped(st.booleans())})
            ),
        },
    )
    return st.fixed_dictionaries(
        {"destination": shaped(ids), "events": shaped(st.lists(line_event, max_size=3))}
    )


def parse_or_our_error(body: bytes) -> LineWebhook | None:
    """A payload model comes back, or MalformedPayloadError (never anything else)."""
    return parse_or_refuse(adapter, LineWebhook, body)


# GIVEN any bytes / any JSON value, WHEN parsed, THEN parse_or_our_error holds
test_fuzz_bytes_parse_or_malformed, test_fuzz_json_parse_or_malformed = parse_fuzz_tests(
    parse_or_our_error, raw=st.binary(), values=JSON_WITH_NAN
)


@given(value=line_like(noisy=True))
@example(value=webhook(event({"type": "text", "id": "m", "text": "x"}, ts=10**20)))
def test_fuzz_near_valid_payloads_parse_or_malformed(value):
    # GIVEN a payload shaped like a LINE webhook, any field possibly wrong, missing or odd
    # WHEN parsed and (if valid) translated
    parsed = parse_or_our_error(raw(value))
    # THEN a valid payload yields one command per event, for its bot
    if parsed is not None:
        commands = adapter.commands(parsed)
        assert len(commands) == len(parsed.events)
        assert all(c.account_id == parsed.destination for c in commands)


@given(value=line_like(noisy=False))
def test_valid_payloads_translate_event_by_event(value):
    # GIVEN any well-formed LINE webhook
    parsed = adapter.parse(raw(value))
    # WHEN translated
    commands = adapter.commands(parsed)
    # THEN only user messages become customer messages, with the channel's time and ids
    assert len(commands) == len(parsed.events)
    for line_event, command in zip(parsed.events, commands, strict=True):
        source = line_event.source
        is_user_message = (
            line_event.type == "message"
            and line_event.message is not None
            and source is not None
            and source.type == "user"
            and bool(source.userId)
        )
        assert isinstance(command, CustomerMessageReceived) == is_user_message
        if is_user_message:
            assert command.customer_id == source.userId
            assert command.channel_message_id == line_event.message.id
            assert to_ms(command.sent_at) == line_event.timestamp
        else:
            assert isinstance(command, IgnoredEvent)
