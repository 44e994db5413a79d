"""Messenger adapter (channels.md §2.1): payload → commands, X-Hub-Signature-256, handshake."""

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
    LEAF,
    epoch_ms,
    parse_fuzz_tests,
    parse_or_refuse,
    shaper,
)
from ticketing.channels import REGISTRY, all_adapters, get_adapter
from ticketing.channels.line import LineAdapter
from ticketing.channels.messenger import MessengerAdapter, MessengerWebhook
from ticketing.clock import to_ms
from ticketing.errors import MalformedPayloadError, UnsupportedChannelError
from ticketing.models.commands import CustomerMessageReceived, IgnoredEvent, OutboundMessageSeen
from ticketing.models.records import Attachment, AttachmentType, Channel, ChannelConnection
from ticketing.services.webhooks import lower_headers

PAGE = "100000000000001"
PSID = "6000000000000001"
SECRET = "messenger-app-secret"
TS = 1700000000050  # 2023-11-14T22:13:20.050Z
AT = datetime(2023, 11, 14, 22, 13, 20, 50_000, tzinfo=UTC)

adapter = MessengerAdapter()
CONNECTION = ChannelConnection(
    channel=Channel.MESSENGER, account_id=PAGE, workspace_id="ws-1", secret_ref="local:meta"
)


def verify(body: bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    return adapter.verify(body, headers, secret, CONNECTION)


def raw(payload: Any) -> bytes:
    """As Meta sends it: compact JSON with non-ASCII escaped as \\uXXXX."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def page(*messaging: dict[str, Any], page_id: str = PAGE, standby: bool = False) -> Any:
    key = "standby" if standby else "messaging"
    return {"object": "page", "entry": [{"id": page_id, "time": TS + 50, key: list(messaging)}]}


def inbound(message: dict[str, Any] | None = None, ts: int = TS, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": ts}
    if message is not None:
        event["message"] = message
    return {**event, **extra}


def commands_of(payload: Any) -> list[Any]:
    return adapter.commands(adapter.parse(raw(payload)))


def customer(mid: str, *, text: str | None = None, at: datetime = AT, **kw: Any) -> Any:
    return CustomerMessageReceived(
        channel=Channel.MESSENGER,
        account_id=PAGE,
        customer_id=PSID,
        channel_message_id=mid,
        sent_at=at,
        text=text,
        **kw,
    )


# ---------------------------------------------------------------------------- payload → commands
def test_text_message():
    # GIVEN a customer's text message
    payload = page(inbound({"mid": "m_A", "text": "Hi"}))
    # WHEN it is parsed and translated
    commands = commands_of(payload)
    # THEN one customer message: Page account, PSID customer, mid, time from ms
    assert commands == [customer("m_A", text="Hi")]
    assert commands[0].sent_at == AT


def test_batched_entries_with_echo_channels_md_sample():
    # GIVEN channels.md's sample: a customer message and an echo, in two entries
    payload = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "time": 1700000000100,
                "messaging": [
                    {
                        "sender": {"id": PSID},
                        "recipient": {"id": PAGE},
                        "timestamp": 1700000000050,
                        "message": {"mid": "m_A", "text": "Hi"},
                    }
                ],
            },
            {
                "id": PAGE,
                "time": 1700000000200,
                "messaging": [
                    {
                        "sender": {"id": PAGE},
                        "recipient": {"id": PSID},
                        "timestamp": 1700000000150,
                        "message": {
                            "mid": "m_B",
                            "is_echo": True,
                            "app_id": 123,
                            "metadata": "ticket:T-42",
                            "text": "Hello!",
                        },
                    }
                ],
            },
        ],
    }
    # WHEN it is parsed and translated
    parsed = adapter.parse(raw(payload))
    commands = adapter.commands(parsed)
    # THEN one command per event, in order; the echo is outbound to the PSID (sender/recipient
    # swapped), carrying the sending app's id as text
    assert adapter.account_ids(parsed) == {PAGE}
    assert commands == [
        customer("m_A", text="Hi"),
        OutboundMessageSeen(
            channel=Channel.MESSENGER,
            account_id=PAGE,
            customer_id=PSID,
            channel_message_id="m_B",
            sent_at=datetime(2023, 11, 14, 22, 13, 20, 150_000, tzinfo=UTC),
            text="Hello!",
            app_id="123",
            metadata="ticket:T-42",
        ),
    ]


def test_batch_across_pages_names_every_account():
    # GIVEN one request carrying events for two Pages
    payload = {
        "object": "page",
        "entry": [
            {"id": "page-a", "messaging": [inbound({"mid": "m_1", "text": "a"})]},
            {"id": "page-b", "messaging": [inbound({"mid": "m_2", "text": "b"}, ts=TS + 1)]},
        ],
    }
    # WHEN it is parsed and translated
    parsed = adapter.parse(raw(payload))
    commands = adapter.commands(parsed)
    # THEN both accounts are named (each picks its own secret) and each command keeps its Page
    assert adapter.account_ids(parsed) == {"page-a", "page-b"}
    assert [(c.account_id, c.channel_message_id) for c in commands] == [
        ("page-a", "m_1"),
        ("page-b", "m_2"),
    ]


def test_echo_without_app_id():
    # GIVEN an echo of a message sent from the Page inbox (no app_id)
    payload = page(
        {
            "sender": {"id": PAGE},
            "recipient": {"id": PSID},
            "timestamp": TS,
            "message": {"mid": "m_E", "is_echo": True, "text": "From the inbox"},
        }
    )
    # WHEN translated
    commands = commands_of(payload)
    # THEN it is an outbound message with no app id
    assert commands == [
        OutboundMessageSeen(
            channel=Channel.MESSENGER,
            account_id=PAGE,
            customer_id=PSID,
            channel_message_id="m_E",
            sent_at=AT,
            text="From the inbox",
            app_id=None,
        )
    ]


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        pytest.param(
            {"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}},
            Attachment(type=AttachmentType.IMAGE, url="https://cdn.example/i.jpg"),
            id="image",
        ),
        pytest.param(
            {
                "type": "image",
                "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822},
            },
            Attachment(
                type=AttachmentType.STICKER,
                url="https://cdn.example/s.png",
                media_id="369239263222822",
            ),
            id="image-with-sticker_id-is-sticker",
        ),
        pytest.param(
            {"type": "sticker", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 7}},
            Attachment(type=AttachmentType.STICKER, url="https://cdn.example/s.png", media_id="7"),
            id="sticker",
        ),
        pytest.param(
            {"type": "video", "payload": {"url": "https://cdn.example/v.mp4"}},
            Attachment(type=AttachmentType.VIDEO, url="https://cdn.example/v.mp4"),
            id="video",
        ),
        pytest.param(
            {"type": "audio", "payload": {"url": "https://cdn.example/a.mp4"}},
            Attachment(type=AttachmentType.AUDIO, url="https://cdn.example/a.mp4"),
            id="audio",
        ),
        pytest.param(
            {"type": "file", "payload": {"url": "https://cdn.example/invoice.pdf"}},
            Attachment(type=AttachmentType.FILE, url="https://cdn.example/invoice.pdf"),
            id="file",
        ),
        pytest.param(
            {
                "type": "location",
                "title": "Pinned Location",
                "payload": {"coordinates": {"lat": 13.7563, "long": 100.5018}},
            },
            Attachment(type=AttachmentType.LOCATION, title="Pinned Location"),
            id="location",
        ),
        pytest.param(
            {
                "type": "fallback",
                "title": "Shared link",
                "payload": {"url": "https://shop.example"},
            },
            Attachment(type=AttachmentType.OTHER, url="https://shop.example", title="Shared link"),
            id="fallback-is-other",
        ),
        pytest.param(
            {"type": "reel", "payload": {"url": "https://cdn.example/r", "reel_video_id": 1}},
            Attachment(type=AttachmentType.OTHER, url="https://cdn.example/r"),
            id="reel-is-other",
        ),
        pytest.param(
            {"type": "image", "payload": {"url": 12345}},
            Attachment(type=AttachmentType.IMAGE, url=None),
            id="non-string-url-dropped",
        ),
        pytest.param(
            {"type": "image"},
            Attachment(type=AttachmentType.IMAGE),
            id="no-payload",
        ),
    ],
)
def test_attachments(attachment, expected):
    # GIVEN a message carrying one attachment and no text
    payload = page(inbound({"mid": "m_att", "attachments": [attachment]}))
    # WHEN translated
    commands = commands_of(payload)
    # THEN the attachment maps to our channel-neutral one
    assert commands == [customer("m_att", attachments=(expected,))]


def test_text_with_several_attachments_keeps_order():
    # GIVEN a message with text and two attachments
    payload = page(
        inbound(
            {
                "mid": "m_multi",
                "text": "two photos",
                "attachments": [
                    {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}},
                    {"type": "image", "payload": {"url": "https://cdn.example/2.jpg"}},
                ],
            }
        )
    )
    # WHEN translated
    (command,) = commands_of(payload)
    # THEN text and both attachments are kept, in order
    assert command.text == "two photos"
    assert [a.url for a in command.attachments] == [
        "https://cdn.example/1.jpg",
        "https://cdn.example/2.jpg",
    ]


def test_postback_with_mid_is_a_customer_message():
    # GIVEN a button tap (postback) that carries a mid
    payload = page(
        inbound(postback={"mid": "m_PB", "title": "Track my order", "payload": "TRACK_ORDER"})
    )
    # WHEN translated
    commands = commands_of(payload)
    # THEN it is the customer speaking, with the button's title as text
    assert commands == [customer("m_PB", text="Track my order")]


def test_postback_without_title_uses_payload():
    # GIVEN a postback with a mid but no title
    payload = page(inbound(postback={"mid": "m_PB2", "payload": "GET_STARTED"}))
    # WHEN translated
    commands = commands_of(payload)
    # THEN its payload is the text
    assert commands == [customer("m_PB2", text="GET_STARTED")]


def test_postback_without_mid_is_ignored():
    # GIVEN a postback without a mid (nothing to dedupe on)
    payload = page(inbound(postback={"title": "Get Started", "payload": "GET_STARTED"}))
    # WHEN translated
    (command,) = commands_of(payload)
    # THEN it is acknowledged and not stored
    assert isinstance(command, IgnoredEvent)
    assert command.account_id == PAGE


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"delivery": {"mids": ["m_A"], "watermark": TS}}, id="delivery"),
        pytest.param({"read": {"watermark": TS}}, id="read"),
        pytest.param({"reaction": {"mid": "m_A", "action": "react", "emoji": "❤"}}, id="reaction"),
    ],
)
def test_receipts_are_ignored(extra):
    # GIVEN a delivery/read/reaction event (no message)
    payload = page(inbound(**extra))
    # WHEN translated
    commands = commands_of(payload)
    # THEN it is one ignored event for the Page
    assert commands == [
        IgnoredEvent(
            channel=Channel.MESSENGER,
            account_id=PAGE,
            reason="not a message (delivery/read/…)",
        )
    ]


def test_standby_events_are_customer_messages():
    # GIVEN a message arriving on the standby channel (another app holds the thread)
    payload = page(inbound({"mid": "m_SB", "text": "still there?"}), standby=True)
    # WHEN translated
    commands = commands_of(payload)
    # THEN it is stored like any customer message
    assert commands == [customer("m_SB", text="still there?")]


def test_messaging_then_standby_in_one_entry():
    # GIVEN an entry with both messaging and standby events
    payload = {
        "object": "page",
        "entry": [
            {
                "id": PAGE,
                "messaging": [inbound({"mid": "m_1", "text": "a"})],
                "standby": [inbound({"mid": "m_2", "text": "b"})],
            }
        ],
    }
    # WHEN translated
    commands = commands_of(payload)
    # THEN both become commands
    assert [c.channel_message_id for c in commands] == ["m_1", "m_2"]


def test_unknown_fields_are_ignored():
    # GIVEN a payload with fields we do not model (new Graph fields)
    payload = page(inbound({"mid": "m_X", "text": "hi", "quick_reply": {"payload": "Q"}}))
    payload["entry"][0]["brand_new"] = {"x": 1}
    # WHEN translated
    commands = commands_of(payload)
    # THEN they do not get in the way
    assert commands == [customer("m_X", text="hi")]


def test_verify_ping_with_no_entries():
    # GIVEN a page payload with no entries
    parsed = adapter.parse(b'{"object":"page","entry":[]}')
    # WHEN translated
    # THEN there are no accounts and no commands
    assert adapter.account_ids(parsed) == set()
    assert adapter.commands(parsed) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"object":"instagram","entry":[]}', id="instagram-object"),
        pytest.param(b'{"object":"page"}', id="no-entry"),
        pytest.param(b'{"object":"page","entry":[{"messaging":[]}]}', id="entry-without-id"),
        pytest.param(
            b'{"object":"page","entry":[{"id":"p","messaging":[{"sender":{"id":"s"},'
            b'"recipient":{"id":"p"},"timestamp":-1}]}]}',
            id="negative-timestamp",
        ),
        pytest.param(
            b'{"object":"page","entry":[{"id":"p","messaging":[{"sender":{"id":"s"},'
            b'"recipient":{"id":"p"},"timestamp":100000000000000000000}]}]}',
            id="timestamp-beyond-year-9999",
        ),
        pytest.param(
            b'{"object":"page","entry":[{"id":"p","messaging":[{"sender":{"id":"s"},'
            b'"recipient":{"id":"p"},"timestamp":1,"message":{"mid":"","text":"x"}}]}]}',
            id="empty-mid",
        ),
        pytest.param(b"\xff\xfe{", id="not-utf8"),
    ],
)
def test_malformed_payloads(body):
    # GIVEN a body that is not a Messenger page webhook
    # WHEN parsed
    # THEN our 400 error is raised, listing what is wrong
    with pytest.raises(MalformedPayloadError) as info:
        adapter.parse(body)
    assert info.value.status_code == 400
    assert info.value.to_body()["error"]["code"] == "malformed_payload"
    assert isinstance(info.value.details["errors"], list)


# ---------------------------------------------------------------------------- signatures
BODY = raw(page(inbound({"mid": "m_A", "text": "Hi"})))


def test_correct_signature_verifies():
    # GIVEN the body signed with the App Secret
    headers = {"x-hub-signature-256": signature(BODY)}
    # WHEN verified
    # THEN it passes
    assert verify(BODY, headers) is True


def test_signature_through_request_headers_any_casing():
    # GIVEN API Gateway REST headers in Meta's casing, lowercased as the service does
    headers = lower_headers({"X-Hub-Signature-256": signature(BODY), "Content-Type": "json"})
    # WHEN verified
    # THEN it passes
    assert verify(BODY, headers) is True


@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_one_flipped_body_byte_fails(position, mask):
    # GIVEN a correct signature and the body with one byte changed
    headers = {"x-hub-signature-256": signature(BODY)}
    tampered = bytearray(BODY)
    tampered[position % len(BODY)] ^= mask
    # WHEN verified
    # THEN it fails
    assert verify(bytes(tampered), headers) is False


@given(position=st.integers(min_value=len("sha256="), max_value=len("sha256=") + 63))
def test_one_changed_signature_char_fails(position):
    # GIVEN the signature with one hex digit changed
    good = signature(BODY)
    swapped = "0" if good[position] != "0" else "1"
    bad = good[:position] + swapped + good[position + 1 :]
    # WHEN verified
    # THEN it fails
    assert verify(BODY, {"x-hub-signature-256": bad}) is False


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"x-hub-signature-256": ""}, id="empty"),
        pytest.param({"x-hub-signature-256": signature(BODY)[len("sha256=") :]}, id="no-prefix"),
        pytest.param(
            {"x-hub-signature": "sha1=" + hmac.new(SECRET.encode(), BODY, "sha1").hexdigest()},
            id="legacy-sha1-only",
        ),
        pytest.param({"x-hub-signature-256": signature(BODY).upper()}, id="upper-case"),
    ],
)
def test_missing_or_wrong_header_fails(headers):
    # GIVEN no usable X-Hub-Signature-256 header
    # WHEN verified
    # THEN it fails
    assert verify(BODY, headers) is False


def test_wrong_secret_fails():
    # GIVEN a body signed with another app's secret
    headers = {"x-hub-signature-256": signature(BODY, "another-secret")}
    # WHEN verified with ours
    # THEN it fails
    assert verify(BODY, headers) is False


def test_known_signature_vector():
    # GIVEN a fixed secret and body (HMAC-SHA256 computed independently)
    body = b'{"object":"page","entry":[]}'
    header = "sha256=" + hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest()
    # WHEN verified
    # THEN it passes with that secret only
    assert verify(body, {"x-hub-signature-256": header}, "s3cr3t") is True
    assert verify(body, {"x-hub-signature-256": header}, "s3cr3T") is False


def test_meta_signs_the_escaped_body():
    # GIVEN a Thai message as Meta sends it: non-ASCII escaped as \uXXXX, signed over those bytes
    payload = page(inbound({"mid": "m_TH", "text": "ขอบคุณค่ะ 🙏"}))
    escaped = raw(payload)
    headers = {"x-hub-signature-256": signature(escaped)}
    unescaped = json.dumps(json.loads(escaped), separators=(",", ":"), ensure_ascii=False).encode()
    # WHEN the exact bytes and a re-serialised copy are verified
    # THEN only the exact escaped bytes verify
    assert b"\\u0e02" in escaped
    assert unescaped != escaped
    assert verify(escaped, headers) is True
    assert verify(unescaped, headers) is False
    # AND the parsed text is the real Thai text
    assert commands_of(payload)[0].text == "ขอบคุณค่ะ 🙏"


# ---------------------------------------------------------------------------- handshake
GOOD_QUERY = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}


def test_handshake_right_token_returns_challenge():
    # GIVEN Meta's subscription check with our verify token
    # WHEN the handshake is answered
    # THEN the challenge is echoed
    assert adapter.handshake(GOOD_QUERY, "tok") == "1158201444"


@pytest.mark.parametrize(
    ("query", "token"),
    [
        pytest.param({**GOOD_QUERY, "hub.verify_token": "nope"}, "tok", id="wrong-token"),
        pytest.param({**GOOD_QUERY, "hub.mode": "unsubscribe"}, "tok", id="wrong-mode"),
        pytest.param({k: v for k, v in GOOD_QUERY.items() if k != "hub.mode"}, "tok", id="no-mode"),
        pytest.param(
            {k: v for k, v in GOOD_QUERY.items() if k != "hub.challenge"},
            "tok",
            id="missing-challenge",
        ),
        pytest.param({**GOOD_QUERY, "hub.challenge": ""}, "tok", id="empty-challenge"),
        pytest.param(
            {k: v for k, v in GOOD_QUERY.items() if k != "hub.verify_token"},
            "tok",
            id="missing-token",
        ),
        pytest.param({**GOOD_QUERY, "hub.verify_token": ""}, None, id="token-not-configured"),
        pytest.param({**GOOD_QUERY, "hub.verify_token": ""}, "", id="empty-configured-token"),
        pytest.param({}, "tok", id="no-query"),
    ],
)
def test_handshake_refused(query, token):
    # GIVEN a subscription check that is not exactly right
    # WHEN the handshake is answered
    # THEN it is refused
    assert adapter.handshake(query, token) is None


@given(query=st.dictionaries(st.text(), st.text()), token=st.none() | st.text())
@example(query={"hub.mode": "subscribe", "hub.verify_token": "é", "hub.challenge": "c"}, token="e")
def test_handshake_never_raises(query, token):
    # GIVEN any query string and configured token
    # WHEN the handshake is answered
    challenge = adapter.handshake(query, token)
    # THEN it echoes the challenge only for a subscribe with exactly our token
    expected = (
        token
        and query.get("hub.mode") == "subscribe"
        and query.get("hub.verify_token") == token
        and query.get("hub.challenge")
    )
    assert challenge == (query["hub.challenge"] if expected else None)


# ---------------------------------------------------------------------------- fuzz
def messenger_like(*, noisy: bool) -> st.SearchStrategy[Any]:
    """Payloads of the real shape. ``noisy``: any field may also be any JSON leaf instead, and
    timestamps any integer (the parser must reject, never crash)."""

    shaped = shaper(noisy=noisy)
    ids = st.text(min_size=1, max_size=8)
    timestamps = epoch_ms(noisy=noisy)
    party = shaped(st.fixed_dictionaries({"id": shaped(ids)}))
    attachment = shaped(
        st.fixed_dictionaries(
            {"type": shaped(st.sampled_from(["image", "sticker", "file", "fallback", "x"]))},
            optional={
                "payload": shaped(
                    st.dictionaries(st.sampled_from(["url", "sticker_id"]), LEAF, max_size=2)
                ),
                "title": shaped(st.text(max_size=5)),
            },
        )
    )
    message = shaped(
        st.fixed_dictionaries(
            {"mid": shaped(ids)},
            optional={
                "text": shaped(st.text(max_size=5)),
                "is_echo": shaped(st.booleans()),
                "app_id": shaped(st.integers() | ids),
                "attachments": shaped(st.lists(attachment, max_size=2)),
            },
        )
    )
    event = st.fixed_dictionaries(
        {"sender": party, "recipient": party, "timestamp": shaped(timestamps)},
        optional={
            "message": message,
            "postback": shaped(
                st.dictionaries(st.sampled_from(["mid", "title", "payload"]), shaped(ids))
            ),
            "read": shaped(st.fixed_dictionaries({"watermark": timestamps})),
        },
    )
    entry = st.fixed_dictionaries(
        {"id": shaped(ids)},
        optional={
            "messaging": shaped(st.lists(event, min_size=1, max_size=2)),
            "standby": shaped(st.lists(event, max_size=2)),
        },
    )
    return st.fixed_dictionaries(
        {
            "object": shaped(st.just("page")),
            "entry": shaped(st.lists(entry, min_size=1, max_size=2)),
        }
    )


def parse_or_our_error(body: bytes) -> MessengerWebhook | None:
    """A payload model comes back, or MalformedPayloadError (never anything else)."""
    return parse_or_refuse(adapter, MessengerWebhook, body)


# GIVEN any bytes / any JSON value, WHEN parsed, THEN parse_or_our_error holds
test_fuzz_bytes_parse_or_malformed, test_fuzz_json_parse_or_malformed = parse_fuzz_tests(
    parse_or_our_error, raw=st.binary(), values=JSON_WITH_NAN
)


@given(value=messenger_like(noisy=True))
@example(value=page(inbound({"mid": "m", "text": "x"}, ts=10**20)))
def test_fuzz_near_valid_payloads_parse_or_malformed(value):
    # GIVEN a payload shaped like a Messenger webhook, any field possibly wrong, missing or odd
    # WHEN parsed and (if valid) translated
    parsed = parse_or_our_error(json.dumps(value).encode())
    # THEN a valid payload yields one command per event, each for a named account
    if parsed is not None:
        commands = adapter.commands(parsed)
        assert len(commands) == sum(len(e.messaging) + len(e.standby) for e in parsed.entry)
        assert {c.account_id for c in commands} <= adapter.account_ids(parsed)


@given(value=messenger_like(noisy=False))
def test_valid_payloads_translate_event_by_event(value):
    # GIVEN any well-formed Messenger webhook
    parsed = adapter.parse(json.dumps(value).encode())
    # WHEN translated
    commands = adapter.commands(parsed)
    # THEN each event gives exactly the command its kind calls for, with the channel's time
    events = [(e.id, ev) for e in parsed.entry for ev in [*e.messaging, *e.standby]]
    assert len(commands) == len(events)
    for (page_id, event), command in zip(events, commands, strict=True):
        assert command.channel is Channel.MESSENGER
        assert command.account_id == page_id
        if event.message is not None and event.message.is_echo:
            assert isinstance(command, OutboundMessageSeen)
            assert command.customer_id == event.recipient.id
            assert command.channel_message_id == event.message.mid
        elif event.message is not None:
            assert isinstance(command, CustomerMessageReceived)
            assert command.customer_id == event.sender.id
            assert command.channel_message_id == event.message.mid
            assert len(command.attachments) == len(event.message.attachments)
        elif event.postback is not None and event.postback.mid:
            assert isinstance(command, CustomerMessageReceived)
            assert command.channel_message_id == event.postback.mid
        else:
            assert isinstance(command, IgnoredEvent)
        if not isinstance(command, IgnoredEvent):
            assert to_ms(command.sent_at) == event.timestamp


# ---------------------------------------------------------------------------- registry
@pytest.mark.parametrize(("name", "kind"), [("messenger", MessengerAdapter), ("line", LineAdapter)])
def test_registry_finds_adapters(name, kind):
    # GIVEN a supported channel name from the URL
    # WHEN its adapter is looked up
    found = get_adapter(name)
    # THEN it is that channel's adapter
    assert isinstance(found, kind)
    assert found.channel.value == name


@pytest.mark.parametrize("name", ["telegram", "", "Messenger", "line/"])
def test_registry_unknown_channel_is_404(name):
    # GIVEN a channel we do not support
    # WHEN its adapter is looked up
    # THEN UnsupportedChannelError (404) names the supported ones
    with pytest.raises(UnsupportedChannelError) as info:
        get_adapter(name)
    assert info.value.status_code == 404
    assert info.value.details == {"channel": name, "supported": sorted(REGISTRY)}


def test_registry_names_match_adapters():
    # GIVEN the registry
    # WHEN each entry is compared with its adapter's channel
    # THEN the URL name is the channel's value, and every name is a known channel
    adapters = all_adapters()
    assert {name: a.channel.value for name, a in adapters.items()} == {n: n for n in REGISTRY}
    assert set(REGISTRY) <= {c.value for c in Channel}


def test_handshake_support():
    # GIVEN Messenger and LINE
    # WHEN asked for GET handshake support
    # THEN Messenger has it, LINE (no GET verification) does not
    assert get_adapter("messenger").handshake_supported is True
    assert get_adapter("line").handshake_supported is False
