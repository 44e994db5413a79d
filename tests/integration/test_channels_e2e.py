"""WhatsApp, Instagram, Shopee and Lazada end to end: a signed request through the real webhook
handler into DynamoDB Local, every outcome read back from the table.

Each test gets its own workspace (``accounts``) and its own channel accounts (``channels``),
signed with the demo secrets of local/secrets.json and configured like the demo connections
(Shopee callback URL and shop user id, Lazada app key and signature variant).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, load_event, unique
from ticketing.models import Attachment, AttachmentType, Channel, Direction, Message, TicketStatus
from ticketing.models.records import DeliveryStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import from_dynamo, get_repository
from ticketing.services.tickets import leave_open

pytestmark = pytest.mark.integration

T = demo.T0  # channel time of the first message of each test (ms)


def digits(n: int = 12) -> str:
    """A unique numeric id (Shopee and Lazada ids are numbers)."""
    return str(uuid.uuid4().int)[:n]


@dataclass
class Channels:
    """A workspace's WhatsApp number, IG account, Shopee shop and Lazada seller (all unique)."""

    workspace_id: str
    phone_number_id: str
    ig_id: str
    shop_id: str
    shop_user_id: str
    seller_id: str

    def account(self, channel: str) -> str:
        return {
            "whatsapp": self.phone_number_id,
            "instagram": self.ig_id,
            "shopee": self.shop_id,
            "lazada": self.seller_id,
        }[channel]


@pytest.fixture
def channels(accounts: Any, repo: Any) -> Channels:
    ids = Channels(
        workspace_id=accounts.workspace_id,
        phone_number_id=digits(15),
        ig_id="1784" + digits(13),
        shop_id=digits(9),
        shop_user_id=digits(9),
        seller_id=digits(12),
    )
    for channel in ("whatsapp", "instagram", "lazada"):
        repo.put_connection(
            demo.channel_connection(channel, ids.account(channel), ids.workspace_id)
        )
    repo.put_connection(
        demo.channel_connection(
            "shopee", ids.shop_id, ids.workspace_id, shop_user_id=ids.shop_user_id
        )
    )
    return ids


@dataclass
class Answer:
    status: int
    text: str

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.text)
        return data


def post(event: dict[str, Any]) -> Answer:
    response = ingest(event, FakeLambdaContext())
    return Answer(response["statusCode"], response["body"] or "")


# ---------------------------------------------------------------------------- reading back
def tickets(repo: Any, workspace_id: str) -> list[Any]:
    return [t for s in TicketStatus for t in repo.list_tickets(workspace_id, s, 100, None).items]


def messages(repo: Any, workspace_id: str, ticket_id: str) -> list[Message]:
    return list(repo.list_messages(workspace_id, ticket_id, 100, None).items)


def stored_message(
    repo: Any, workspace_id: str, channel: str, account_id: str, channel_message_id: str
) -> Message | None:
    """The message item under its dedupe key (None when nothing was stored)."""
    key = keys.message_key(workspace_id, Channel(channel), account_id, channel_message_id)
    item = repo.client.get_item(
        TableName=repo.table_name,
        Key={k: {"S": v} for k, v in key.items()},
        ConsistentRead=True,
    ).get("Item")
    return Message.model_validate(from_dynamo(item)) if item else None


def only_ticket(repo: Any, workspace_id: str) -> Any:
    found = tickets(repo, workspace_id)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------- per channel
@dataclass
class Case:
    """A signed customer message with one attachment, and what must be stored for it."""

    event: dict[str, Any]
    message_id: str
    customer_id: str
    text: str | None
    attachments: list[Attachment]


def whatsapp_case(ids: Channels) -> Case:
    wamid, media_id, wa_id = f"wamid.{uuid.uuid4().hex}", digits(16), "66" + digits(9)
    image = demo.whatsapp_image(
        wamid, media_id, caption="รูปนี้ค่ะ", mime_type="image/jpeg", wa_id=wa_id, ts=T
    )
    payload = demo.whatsapp_payload(image, phone_number_id=ids.phone_number_id)
    return Case(
        event=demo.whatsapp_webhook_event(payload),
        message_id=wamid,
        customer_id=wa_id,
        text="รูปนี้ค่ะ",
        attachments=[
            Attachment(type=AttachmentType.IMAGE, media_id=media_id, mime_type="image/jpeg")
        ],
    )


def instagram_case(ids: Channels) -> Case:
    mid, igsid = unique("aWdfZAG1f-"), digits(16)
    url = f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={digits()}&signature=x"
    message = demo.instagram_message(
        mid,
        "Is this in stock?",
        igsid=igsid,
        ig_id=ids.ig_id,
        ts=T,
        attachments=[{"type": "image", "payload": {"url": url}}],
    )
    return Case(
        event=demo.instagram_webhook_event(demo.instagram_payload(message, ig_id=ids.ig_id)),
        message_id=mid,
        customer_id=igsid,
        text="Is this in stock?",
        attachments=[Attachment(type=AttachmentType.IMAGE, url=url)],
    )


def shopee_case(ids: Channels) -> Case:
    message_id, buyer = digits(19), digits(9)
    url = f"https://cf.shopee.co.th/file/{uuid.uuid4().hex}"
    push = demo.shopee_push(
        message_id,
        message_type="image",
        content={"url": url, "thumb_width": 640, "thumb_height": 640},
        from_id=buyer,
        to_id=ids.shop_user_id,
        conversation_id=digits(16),
        shop_id=ids.shop_id,
        ts=T,
    )
    return Case(
        event=demo.shopee_webhook_event(push),
        message_id=message_id,
        customer_id=buyer,
        text=None,
        attachments=[Attachment(type=AttachmentType.IMAGE, url=url)],
    )


def lazada_case(ids: Channels) -> Case:
    message_id, buyer = uuid.uuid4().hex[:16], digits(12)
    url = f"https://sg-live.slatic.net/p/{uuid.uuid4().hex}.jpg"
    push = demo.lazada_message(
        message_id, {"imgUrl": url, "width": 800}, seller_id=ids.seller_id, buyer_id=buyer, ts=T
    )
    return Case(
        event=demo.lazada_webhook_event(push),
        message_id=message_id,
        customer_id=demo.lazada_session(ids.seller_id, buyer),  # the session is the thread
        text=None,
        attachments=[Attachment(type=AttachmentType.IMAGE, url=url)],
    )


CASES: dict[str, Callable[[Channels], Case]] = {
    "whatsapp": whatsapp_case,
    "instagram": instagram_case,
    "shopee": shopee_case,
    "lazada": lazada_case,
}


@pytest.mark.parametrize("channel", sorted(CASES))
def test_signed_customer_message_creates_a_ticket_once(channels, repo, channel):
    # GIVEN a signed customer message with an attachment, for a connected account
    case = CASES[channel](channels)
    account_id = channels.account(channel)

    # WHEN it is posted
    first = post(case.event)

    # THEN 200, and one open ticket holds the message with its typed attachment
    assert first.status == 200, first.text
    if channel == "shopee":
        assert first.text == ""  # Shopee: "reply 2xx with an empty body"
    else:
        assert first.json["outcomes"] == {"created": 1}
    ticket = only_ticket(repo, channels.workspace_id)
    assert (ticket.status, ticket.channel, ticket.account_id) == (
        TicketStatus.OPEN,
        Channel(channel),
        account_id,
    )
    assert ticket.messages_in == 1
    (message,) = messages(repo, channels.workspace_id, ticket.ticket_id)
    assert message.channel_message_id == case.message_id
    assert message.direction is Direction.INBOUND
    assert message.sender_id == case.customer_id
    assert message.text == case.text
    assert message.attachments == case.attachments
    assert message.sent_at == datetime.fromtimestamp(T // 1000, tz=UTC)

    # WHEN the channel redelivers the same request
    again = post(case.event)

    # THEN 200, nothing new: still one ticket with one message
    assert again.status == 200, again.text
    if channel == "shopee":
        assert again.text == ""
    else:
        assert again.json["outcomes"] == {"duplicate": 1}
    ticket = only_ticket(repo, channels.workspace_id)
    assert ticket.messages_in == 1
    assert [
        m.channel_message_id for m in messages(repo, channels.workspace_id, ticket.ticket_id)
    ] == [case.message_id]


def test_whatsapp_attachment_kinds_are_typed_records(channels, repo):
    # GIVEN one customer's media messages of every kind, in one request
    wa_id = "66" + digits(9)

    def media(kind: str, body: dict[str, Any], i: int) -> dict[str, Any]:
        return {
            "from": wa_id,
            "id": f"wamid.{kind}.{uuid.uuid4().hex}",
            "timestamp": str(T // 1000 + i),
            "type": kind,
            kind: body,
        }

    sent = [
        media("video", {"id": "v-1", "mime_type": "video/mp4"}, 0),
        media("audio", {"id": "a-1", "mime_type": "audio/ogg; codecs=opus", "voice": True}, 1),
        media("document", {"id": "d-1", "mime_type": "application/pdf", "filename": "bill.pdf"}, 2),
        media("sticker", {"id": "s-1", "mime_type": "image/webp", "animated": False}, 3),
        media("location", {"latitude": 13.7563, "longitude": 100.5018, "name": "Siam"}, 4),
    ]
    payload = demo.whatsapp_payload(*sent, phone_number_id=channels.phone_number_id)

    # WHEN it is posted
    answer = post(demo.whatsapp_webhook_event(payload))

    # THEN one ticket holds them in channel-time order, each with its typed attachment
    assert answer.status == 200, answer.text
    assert answer.json["outcomes"] == {"created": 1, "appended": 4}
    ticket = only_ticket(repo, channels.workspace_id)
    stored = messages(repo, channels.workspace_id, ticket.ticket_id)
    assert [m.channel_message_id for m in stored] == [m["id"] for m in sent]
    assert [m.attachments for m in stored] == [
        [Attachment(type=AttachmentType.VIDEO, media_id="v-1", mime_type="video/mp4")],
        [Attachment(type=AttachmentType.AUDIO, media_id="a-1", mime_type="audio/ogg; codecs=opus")],
        [
            Attachment(
                type=AttachmentType.FILE,
                media_id="d-1",
                mime_type="application/pdf",
                title="bill.pdf",
            )
        ],
        [Attachment(type=AttachmentType.STICKER, media_id="s-1", mime_type="image/webp")],
        [Attachment(type=AttachmentType.LOCATION, url="geo:13.7563,100.5018", title="Siam")],
    ]


# ---------------------------------------------------------------------------- outbound
def test_shopee_shop_messages_are_outbound_and_never_open_a_ticket(channels, repo):
    # GIVEN a buyer and the shop's chat user on one Shopee conversation
    buyer, conversation = digits(9), digits(16)

    def push(message_id: str, *, from_id: str, to_id: str, ts: int, text: str) -> Any:
        return demo.shopee_webhook_event(
            demo.shopee_push(
                message_id,
                content={"text": text},
                from_id=from_id,
                to_id=to_id,
                conversation_id=conversation,
                shop_id=channels.shop_id,
                ts=ts,
            )
        )

    # WHEN the shop writes first (a Seller Centre message: no conversation yet)
    early = digits(19)
    answer = post(push(early, from_id=channels.shop_user_id, to_id=buyer, ts=T, text="Promo!"))

    # THEN 200 with an empty body, and nothing is stored: no ticket, no message
    assert (answer.status, answer.text) == (200, "")
    assert tickets(repo, channels.workspace_id) == []
    assert stored_message(repo, channels.workspace_id, "shopee", channels.shop_id, early) is None

    # WHEN the buyer writes, the shop answers, then the ticket is closed and the shop writes again
    asked, reply, later = digits(19), digits(19), digits(19)
    assert post(push(asked, from_id=buyer, to_id=channels.shop_user_id, ts=T + 1000, text="Hi"))
    answer = post(
        push(reply, from_id=channels.shop_user_id, to_id=buyer, ts=T + 2000, text="Hello!")
    )
    assert (answer.status, answer.text) == (200, "")
    ticket = only_ticket(repo, channels.workspace_id)
    leave_open(
        repo,
        channels.workspace_id,
        ticket.ticket_id,
        TicketStatus.CLOSED,
        actor="agent-1",
        now=datetime.now(UTC),
    )
    answer = post(
        push(later, from_id=channels.shop_user_id, to_id=buyer, ts=T + 3000, text="Thanks")
    )
    assert (answer.status, answer.text) == (200, "")

    # THEN the buyer's message opened the only ticket; the shop's are outbound on it, and the
    # last one did not reopen it
    ticket = only_ticket(repo, channels.workspace_id)
    assert ticket.status is TicketStatus.CLOSED
    assert (ticket.messages_in, ticket.messages_out) == (1, 2)
    stored = messages(repo, channels.workspace_id, ticket.ticket_id)
    assert [(m.channel_message_id, m.direction, m.text) for m in stored] == [
        (asked, Direction.INBOUND, "Hi"),
        (reply, Direction.OUTBOUND, "Hello!"),
        (later, Direction.OUTBOUND, "Thanks"),
    ]
    assert {m.conversation_id for m in stored} == {ticket.conversation_id}


def test_instagram_echoes_are_outbound_and_never_open_a_ticket(channels, repo):
    # GIVEN an Instagram customer
    igsid = digits(16)

    def send(*messaging: dict[str, Any]) -> Answer:
        payload = demo.instagram_payload(*messaging, ig_id=channels.ig_id)
        return post(demo.instagram_webhook_event(payload))

    # WHEN an echo of the account's own message arrives before the customer ever wrote
    early = unique("ig-echo-")
    answer = send(demo.instagram_echo(early, "Hi from us", igsid=igsid, ig_id=channels.ig_id, ts=T))

    # THEN it is acknowledged and nothing is stored
    assert answer.status == 200, answer.text
    assert answer.json["outcomes"] == {"outbound_skipped": 1}
    assert tickets(repo, channels.workspace_id) == []
    assert stored_message(repo, channels.workspace_id, "instagram", channels.ig_id, early) is None

    # WHEN the customer writes, then an echo (inbox app) and our own send's echo arrive
    asked, reply, own = unique("ig-in-"), unique("ig-echo-"), unique("ig-own-")
    answer = send(
        demo.instagram_message(asked, "Price?", igsid=igsid, ig_id=channels.ig_id, ts=T + 1000),
        demo.instagram_echo(reply, "199 THB", igsid=igsid, ig_id=channels.ig_id, ts=T + 2000),
        demo.instagram_echo(
            own,
            "Sent by Ticket Engine",
            igsid=igsid,
            ig_id=channels.ig_id,
            ts=T + 3000,
            app_id=1517776481860111,  # META_APP_ID of app_env: the sender stores its own sends
        ),
    )

    # THEN one ticket: the customer's message inbound, the inbox echo outbound, ours skipped
    assert answer.status == 200, answer.text
    assert answer.json["outcomes"] == {"created": 1, "outbound_stored": 1, "outbound_skipped": 1}
    ticket = only_ticket(repo, channels.workspace_id)
    assert (ticket.messages_in, ticket.messages_out) == (1, 1)
    stored = messages(repo, channels.workspace_id, ticket.ticket_id)
    assert [(m.channel_message_id, m.direction) for m in stored] == [
        (asked, Direction.INBOUND),
        (reply, Direction.OUTBOUND),
    ]
    assert stored[1].sender_id == channels.ig_id


# ---------------------------------------------------------------------------- Lazada signatures
@pytest.mark.parametrize("variant", ["app_key_body", "body"])
def test_lazada_signature_variant_follows_the_connection(channels, repo, variant):
    # GIVEN a Lazada seller whose connection says which bytes Lazada signs
    repo.put_connection(
        demo.channel_connection(
            "lazada", channels.seller_id, channels.workspace_id, signature_variant=variant
        )
    )
    buyer = digits(12)
    good_key = demo.LAZADA_APP_KEY if variant == "app_key_body" else None
    other_key = None if variant == "app_key_body" else demo.LAZADA_APP_KEY

    def message(message_id: str, text: str, ts: int) -> Any:
        return demo.lazada_message(
            message_id, {"txt": text}, seller_id=channels.seller_id, buyer_id=buyer, ts=ts
        )

    # WHEN a push signed with the other variant arrives
    wrong_id = uuid.uuid4().hex[:16]
    wrong = post(demo.lazada_webhook_event(message(wrong_id, "hi", T), app_key=other_key))

    # THEN it is refused and nothing is stored
    assert wrong.status == 401, wrong.text
    assert wrong.json["error"]["code"] == "invalid_signature"
    assert tickets(repo, channels.workspace_id) == []
    assert (
        stored_message(repo, channels.workspace_id, "lazada", channels.seller_id, wrong_id) is None
    )

    # WHEN a push signed with the configured variant arrives (and the seller's reply after it)
    good_id, reply_id = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    good = post(demo.lazada_webhook_event(message(good_id, "สวัสดีค่ะ", T + 1000), app_key=good_key))
    seller_reply = demo.lazada_message(
        reply_id,
        {"txt": "ยินดีค่ะ"},
        from_account_type=2,
        seller_id=channels.seller_id,
        buyer_id=buyer,
        ts=T + 2000,
    )
    reply = post(demo.lazada_webhook_event(seller_reply, app_key=good_key))

    # THEN the buyer's message opens a ticket on the session, the seller's is outbound on it
    assert good.status == 200, good.text
    assert good.json["outcomes"] == {"created": 1}
    assert reply.json["outcomes"] == {"outbound_stored": 1}
    ticket = only_ticket(repo, channels.workspace_id)
    stored = messages(repo, channels.workspace_id, ticket.ticket_id)
    assert [(m.channel_message_id, m.direction, m.text) for m in stored] == [
        (good_id, Direction.INBOUND, "สวัสดีค่ะ"),
        (reply_id, Direction.OUTBOUND, "ยินดีค่ะ"),
    ]
    assert stored[0].sender_id == demo.lazada_session(channels.seller_id, buyer)


# ---------------------------------------------------------------------------- statuses, deletes
def test_whatsapp_statuses_move_an_outbound_message_forward_only(channels, repo):
    # GIVEN a customer's ticket and an outbound message the shop sent on it (as the sender
    # stores it: status "sending")
    wa_id = "66" + digits(9)
    payload = demo.whatsapp_payload(
        demo.whatsapp_text(f"wamid.{uuid.uuid4().hex}", "Hello", wa_id=wa_id, ts=T),
        phone_number_id=channels.phone_number_id,
    )
    assert post(demo.whatsapp_webhook_event(payload)).status == 200
    ticket = only_ticket(repo, channels.workspace_id)
    out = f"wamid.out.{uuid.uuid4().hex}"
    sent_at = datetime.fromtimestamp(T // 1000 + 5, tz=UTC)
    repo.append_message(
        message=Message(
            workspace_id=channels.workspace_id,
            message_id=unique("m_out_"),
            ticket_id=ticket.ticket_id,
            conversation_id=ticket.conversation_id,
            channel=Channel.WHATSAPP,
            account_id=channels.phone_number_id,
            direction=Direction.OUTBOUND,
            channel_message_id=out,
            sender_id=channels.phone_number_id,
            text="Yes, size M is in stock",
            sent_at=sent_at,
            received_at=sent_at,
            delivery_status=DeliveryStatus.SENDING,
        ),
        expected_status=None,
        activity_at=sent_at,
    )

    def report(status: str, seconds: int) -> Answer:
        entry = demo.whatsapp_status(out, status, recipient=wa_id, ts=T + seconds * 1000)
        payload = demo.whatsapp_payload(statuses=(entry,), phone_number_id=channels.phone_number_id)
        return post(demo.whatsapp_webhook_event(payload))

    def current() -> Message:
        found = stored_message(
            repo, channels.workspace_id, "whatsapp", channels.phone_number_id, out
        )
        assert found is not None
        return found

    # WHEN "read", "delivered" and "sent" arrive in that order (the reverse of channel time)
    outcomes = [
        report(status, s).json["outcomes"]
        for status, s in [("read", 30), ("delivered", 20), ("sent", 10)]
    ]

    # THEN the first moves it to read and the late ones change nothing
    assert outcomes == [{"status_updated": 1}, {"status_stale": 1}, {"status_stale": 1}]
    message = current()
    assert message.delivery_status is DeliveryStatus.READ
    assert message.delivery_status_at == datetime.fromtimestamp(T // 1000 + 30, tz=UTC)
    assert message.text == "Yes, size M is in stock"
    assert message.direction is Direction.OUTBOUND

    # WHEN "failed" arrives after "read", then a late "delivered" again
    failed = report("failed", 40)
    late = report("delivered", 25)

    # THEN failed ranks last (sending < sent < delivered < read < failed): it sticks, with its error
    assert failed.json["outcomes"] == {"status_updated": 1}
    assert late.json["outcomes"] == {"status_stale": 1}
    message = current()
    assert message.delivery_status is DeliveryStatus.FAILED
    assert message.delivery_error == "131047: Re-engagement message"

    # AND a status for a message we never stored creates nothing
    unknown = f"wamid.unknown.{uuid.uuid4().hex}"
    entry = demo.whatsapp_status(unknown, "read", recipient=wa_id, ts=T)
    payload = demo.whatsapp_payload(statuses=(entry,), phone_number_id=channels.phone_number_id)
    assert post(demo.whatsapp_webhook_event(payload)).json["outcomes"] == {"status_stale": 1}
    assert (
        stored_message(repo, channels.workspace_id, "whatsapp", channels.phone_number_id, unknown)
        is None
    )
    assert only_ticket(repo, channels.workspace_id).messages_out == 1


def test_instagram_unsent_message_is_marked_not_dropped(channels, repo):
    # GIVEN a stored Instagram customer message
    igsid, mid = digits(16), unique("ig-mid-")

    def send(messaging: dict[str, Any]) -> Answer:
        payload = demo.instagram_payload(messaging, ig_id=channels.ig_id)
        return post(demo.instagram_webhook_event(payload))

    assert send(
        demo.instagram_message(mid, "wrong photo, sorry", igsid=igsid, ig_id=channels.ig_id, ts=T)
    ).json["outcomes"] == {"created": 1}

    # WHEN the customer unsends it (and Meta redelivers the deletion)
    deleted = demo.instagram_deleted(mid, igsid=igsid, ig_id=channels.ig_id, ts=T + 60_000)
    first, again = send(deleted), send(deleted)

    # THEN it is marked deleted at the channel's time, keeps its text, and stays on its ticket
    assert first.json["outcomes"] == {"deleted_marked": 1}
    assert again.status == 200
    assert again.json["outcomes"] == {"deleted_unknown": 1}  # already marked: nothing changes
    message = stored_message(repo, channels.workspace_id, "instagram", channels.ig_id, mid)
    assert message is not None
    assert message.text == "wrong photo, sorry"
    assert message.deleted_at == datetime.fromtimestamp((T + 60_000) / 1000, tz=UTC)
    ticket = only_ticket(repo, channels.workspace_id)
    assert [
        m.channel_message_id for m in messages(repo, channels.workspace_id, ticket.ticket_id)
    ] == [mid]
    assert ticket.messages_in == 1

    # AND deleting a message we never stored stores nothing
    ghost = unique("ig-ghost-")
    answer = send(demo.instagram_deleted(ghost, igsid=igsid, ig_id=channels.ig_id, ts=T))
    assert answer.json["outcomes"] == {"deleted_unknown": 1}
    assert stored_message(repo, channels.workspace_id, "instagram", channels.ig_id, ghost) is None


# ---------------------------------------------------------------------------- failure halfway
class FailOnce:
    """Answers the first DynamoDB TransactWriteItems whose request names ``needle`` with a 500
    InternalServerError, as DynamoDB would (a before-call hook on the handler's own client)."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode()
        self.hits = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body", b"")
        body = body.encode() if isinstance(body, str) else body
        if self.hits or self.needle not in body:
            return None
        self.hits += 1
        parsed = {
            "Error": {"Code": "InternalServerError", "Message": "injected fault"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }
        return AWSResponse(params.get("url", "http://dynamodb"), 500, HTTPHeaders(), None), parsed


@pytest.fixture
def fail_once(app_env: None) -> Iterator[Callable[[str], FailOnce]]:
    client = get_repository().client
    event = "before-call.dynamodb.TransactWriteItems"
    hooks: list[FailOnce] = []

    def arm(needle: str) -> FailOnce:
        hook = FailOnce(needle)
        client.meta.events.register(event, hook)
        hooks.append(hook)
        return hook

    yield arm
    for hook in hooks:
        client.meta.events.unregister(event, hook)


def test_whatsapp_batch_failing_halfway_is_503_then_redelivery_stores_each_once(
    channels, repo, fail_once
):
    # GIVEN one WhatsApp request with messages from three customers, and DynamoDB failing the
    # write of the second customer's message once
    customers = ["66" + digits(9) for _ in range(3)]
    wamids = [f"wamid.{i}.{uuid.uuid4().hex}" for i in range(3)]
    payload = demo.whatsapp_payload(
        *(
            demo.whatsapp_text(wamid, f"question {i}", wa_id=wa_id, ts=T + i * 1000)
            for i, (wamid, wa_id) in enumerate(zip(wamids, customers, strict=True))
        ),
        phone_number_id=channels.phone_number_id,
    )
    event = demo.whatsapp_webhook_event(payload)
    fault = fail_once(wamids[1])

    # WHEN it is posted
    first = post(event)

    # THEN 503 so WhatsApp redelivers; the first and third customers' messages are stored
    assert fault.hits == 1
    assert first.status == 503, first.text
    assert first.json["error"]["code"] == "storage_unavailable"
    stored_first = {
        wamid
        for wamid in wamids
        if stored_message(repo, channels.workspace_id, "whatsapp", channels.phone_number_id, wamid)
    }
    assert stored_first == {wamids[0], wamids[2]}

    # WHEN WhatsApp redelivers the same request
    again = post(event)

    # THEN 200: only the missing message is written, and every message is stored exactly once,
    # on one open ticket per customer
    assert again.status == 200, again.text
    assert again.json["outcomes"] == {"duplicate": 2, "created": 1}
    found = tickets(repo, channels.workspace_id)
    assert len(found) == 3
    assert all(t.status is TicketStatus.OPEN and t.messages_in == 1 for t in found)
    by_customer = {}
    for ticket in found:
        (message,) = messages(repo, channels.workspace_id, ticket.ticket_id)
        by_customer[message.sender_id] = message.channel_message_id
    assert by_customer == dict(zip(customers, wamids, strict=True))

    # AND a further redelivery changes nothing
    assert post(event).json["outcomes"] == {"duplicate": 3}
    assert sorted(t.messages_in for t in tickets(repo, channels.workspace_id)) == [1, 1, 1]


def test_sent_at_is_the_channel_time(channels, repo):
    # GIVEN a WhatsApp message whose channel time is a day before it arrives
    wamid = f"wamid.{uuid.uuid4().hex}"
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    ts = int(yesterday.timestamp() * 1000)
    payload = demo.whatsapp_payload(
        demo.whatsapp_text(wamid, "late", ts=ts), phone_number_id=channels.phone_number_id
    )

    # WHEN it is posted
    assert post(demo.whatsapp_webhook_event(payload)).status == 200

    # THEN it is stored with the channel's timestamp, not the arrival time
    message = stored_message(
        repo, channels.workspace_id, "whatsapp", channels.phone_number_id, wamid
    )
    assert message is not None
    assert message.sent_at == yesterday
    assert message.received_at > yesterday + timedelta(hours=23)


def test_channel_samples_against_the_demo_workspace(app_env, repo):
    # GIVEN the demo workspace of the local stack with all its channel connections (its ids are
    # global: other tests may have posted the same samples, so "duplicate" is allowed)
    demo.seed_demo()

    def answer(name: str) -> Answer:
        return post(load_event(name))

    # WHEN / THEN each new channel's sample is accepted and stored under the demo account
    for name in ("webhook_whatsapp_message", "webhook_whatsapp_image"):
        got = answer(name)
        assert got.status == 200, (name, got.text)
        (outcome,) = got.json["outcomes"]
        assert outcome in {"created", "appended", "duplicate"}, name
    image = stored_message(
        repo,
        demo.WORKSPACE_ID,
        "whatsapp",
        demo.WHATSAPP_PHONE_NUMBER_ID,
        "wamid.HBgLNjY4MTIzNDU2NzgVAgASGBQzRUIwREVNTzAwMDAwMDAwMDAwMgA=",
    )
    assert image is not None
    assert [a.type for a in image.attachments] == [AttachmentType.IMAGE]
    assert image.attachments[0].media_id == "1480000000000001"

    # the statuses name an outbound message the demo never sent: acknowledged, nothing moves
    statuses = answer("webhook_whatsapp_statuses")
    assert (statuses.status, statuses.json["outcomes"]) == (200, {"status_stale": 2})

    got = answer("webhook_instagram_message")
    assert got.status == 200, got.text
    assert set(got.json["outcomes"]) <= {"created", "appended", "duplicate"}
    deleted = answer("webhook_instagram_deleted")
    assert deleted.status == 200, deleted.text
    assert set(deleted.json["outcomes"]) <= {"deleted_marked", "deleted_unknown"}

    shopee = answer("webhook_shopee_message")
    assert (shopee.status, shopee.text) == (200, "")
    assert stored_message(
        repo, demo.WORKSPACE_ID, "shopee", demo.SHOPEE_SHOP_ID, "2194806418238210120"
    )

    got = answer("webhook_lazada_message")
    assert got.status == 200, got.text
    assert set(got.json["outcomes"]) <= {"created", "appended", "duplicate"}
    update = answer("webhook_lazada_session_update")
    assert (update.status, update.json["outcomes"]) == (200, {"ignored": 1})
