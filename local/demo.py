"""The demo workspace of the local stack (README: "Demo data and secrets").

Its signing secrets live in local/secrets.json (referenced as ``local:<name>``); the sample
webhooks in events/ are signed with them (``python -m local.demo events`` rebuilds them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticketing.models import ChannelConnection

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / "local" / "secrets.json"
EVENTS_DIR = ROOT / "events"

WORKSPACE_ID = "ws-demo"
AGENT_ID = "agent-demo"
MESSENGER_PAGE_ID = "100000000000001"
LINE_BOT_ID = "U0000000000000000000000000000demo"
WHATSAPP_WABA_ID = "102000000000001"
WHATSAPP_PHONE_NUMBER_ID = "109000000000001"  # a connection's account id (routing key)
INSTAGRAM_ACCOUNT_ID = "17841400000000001"  # the IG professional account (entry.id)
SHOPEE_SHOP_ID = "880000001"
SHOPEE_SHOP_USER_ID = "880000101"  # the shop's own chat user id (from_id of its replies)
# Shopee signs the *registered* callback URL: the local stack's URL is what the demo registers.
SHOPEE_CALLBACK_URL = "http://127.0.0.1:3000/webhooks/shopee"
LAZADA_SELLER_ID = "200000000001"
LAZADA_APP_KEY = "100001"  # not secret: part of the signed bytes (app_key + body)
LAZADA_SITE = "lazada_th"
SECRET_REFS = {
    "messenger": "local:messenger-app-secret",
    "line": "local:line-channel-secret",
    "whatsapp": "local:whatsapp-app-secret",
    "instagram": "local:instagram-app-secret",
    "shopee": "local:shopee-partner-key",
    "lazada": "local:lazada-app-secret",
    "meta_verify_token": "local:meta-verify-token",
}


def secrets() -> dict[str, str]:
    data: dict[str, str] = json.loads(SECRETS_FILE.read_text())
    return data


# The non-secret signing inputs each channel's connection carries (options), and a display name.
DEMO_OPTIONS: dict[str, dict[str, str]] = {
    "shopee": {"callback_url": SHOPEE_CALLBACK_URL, "shop_user_id": SHOPEE_SHOP_USER_ID},
    "lazada": {"app_key": LAZADA_APP_KEY, "signature_variant": "app_key_body"},
}
DEMO_ACCOUNTS = {
    "messenger": (MESSENGER_PAGE_ID, "Demo shop Page"),
    "line": (LINE_BOT_ID, "Demo shop LINE OA"),
    "whatsapp": (WHATSAPP_PHONE_NUMBER_ID, "Demo shop WhatsApp"),
    "instagram": (INSTAGRAM_ACCOUNT_ID, "Demo shop Instagram"),
    "shopee": (SHOPEE_SHOP_ID, "Demo shop on Shopee"),
    "lazada": (LAZADA_SELLER_ID, "Demo shop on Lazada"),
}


def channel_connection(
    channel: str,
    account_id: str | None = None,
    workspace_id: str = WORKSPACE_ID,
    **options: str,
) -> ChannelConnection:
    """A connection signed with the channel's demo secret and demo options (``options``
    override them), for the demo account or ``account_id``."""
    from ticketing.models import Channel, ChannelConnection

    demo_account, name = DEMO_ACCOUNTS[channel]
    return ChannelConnection(
        channel=Channel(channel),
        account_id=account_id or demo_account,
        workspace_id=workspace_id,
        display_name=name,
        secret_ref=SECRET_REFS[channel],
        options={**DEMO_OPTIONS.get(channel, {}), **options},
    )


def demo_connections() -> list[ChannelConnection]:
    """The demo workspace's channel accounts, with the options their signatures need."""
    return [channel_connection(channel) for channel in DEMO_ACCOUNTS]


def seed_demo() -> dict[str, Any]:
    """Create the demo workspace and its channel connections (idempotent)."""
    from ticketing.models import WorkspaceSettings
    from ticketing.repository.dynamodb import get_repository

    repo = get_repository()
    repo.put_workspace(WorkspaceSettings(workspace_id=WORKSPACE_ID, name="Demo shop"))
    for connection in demo_connections():
        repo.put_connection(connection)
    return {
        "workspace_id": WORKSPACE_ID,
        "messenger_page_id": MESSENGER_PAGE_ID,
        "line_bot_id": LINE_BOT_ID,
        "whatsapp_phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
        "instagram_account_id": INSTAGRAM_ACCOUNT_ID,
        "shopee_shop_id": SHOPEE_SHOP_ID,
        "lazada_seller_id": LAZADA_SELLER_ID,
        "secrets_file": str(SECRETS_FILE.relative_to(ROOT)),
    }


# ---------------------------------------------------------------------------- sample events
def sign_messenger(raw: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def sign_line(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def sign_shopee(raw: bytes, partner_key: str, callback_url: str = SHOPEE_CALLBACK_URL) -> str:
    """``Authorization``: hex HMAC-SHA256 (partner key) over ``<callback URL>|<raw body>``."""
    signed = callback_url.encode() + b"|" + raw
    return hmac.new(partner_key.encode(), signed, hashlib.sha256).hexdigest()


def sign_lazada(raw: bytes, app_secret: str, app_key: str | None = LAZADA_APP_KEY) -> str:
    """``Authorization``: hex HMAC-SHA256 (app secret) over ``app_key + raw body`` (the
    ``app_key_body`` variant), or over the body alone with ``app_key=None`` (``body``)."""
    signed = raw if app_key is None else app_key.encode() + raw
    return hmac.new(app_secret.encode(), signed, hashlib.sha256).hexdigest()


def meta_json(payload: Any) -> bytes:
    """Meta sends compact JSON with non-ASCII escaped as \\uXXXX; we sign those exact bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def line_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def compact_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON (LINE, Shopee and Lazada send non-ASCII as is)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def api_event(
    method: str,
    resource: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the local server and `sam local` send them."""
    context: dict[str, Any] = {
        "resourcePath": resource,
        "httpMethod": method,
        "path": f"/local{path}",
        "stage": "local",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    hdrs = headers or {}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": context,
        "body": body.decode() if body is not None else None,
        "isBase64Encoded": False,
    }


def messenger_payload(*messaging: dict[str, Any], page_id: str = MESSENGER_PAGE_ID) -> Any:
    return {
        "object": "page",
        "entry": [
            {"id": page_id, "time": m["timestamp"] + 50, "messaging": [m]} for m in messaging
        ],
    }


def messenger_message(mid: str, text: str, *, psid: str = "6000000000000001", ts: int) -> Any:
    return {
        "sender": {"id": psid},
        "recipient": {"id": MESSENGER_PAGE_ID},
        "timestamp": ts,
        "message": {"mid": mid, "text": text},
    }


def line_payload(*events: dict[str, Any], bot_id: str = LINE_BOT_ID) -> Any:
    return {"destination": bot_id, "events": list(events)}


def line_text(
    message_id: str,
    text: str,
    *,
    user: str = "U1111111111111111111111111111demo",
    ts: int,
    redelivery: bool = False,
) -> Any:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": ts,
        "source": {"type": "user", "userId": user},
        "replyToken": "b60d432864f44d079f6d8efe86cf404b",
        "webhookEventId": f"01HEVENT{message_id}",
        "deliveryContext": {"isRedelivery": redelivery},
        "message": {"type": "text", "id": message_id, "quoteToken": "q", "text": text},
    }


def messenger_webhook_event(payload: Any, secret: str | None = None) -> dict[str, Any]:
    raw = meta_json(payload)
    sig = sign_messenger(raw, secret or secrets()["messenger-app-secret"])
    return api_event(
        "POST",
        "/webhooks/{channel}",
        "/webhooks/messenger",
        body=raw,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
        path_parameters={"channel": "messenger"},
    )


def line_webhook_event(payload: Any, secret: str | None = None) -> dict[str, Any]:
    raw = line_json(payload)
    sig = sign_line(raw, secret or secrets()["line-channel-secret"])
    return api_event(
        "POST",
        "/webhooks/{channel}",
        "/webhooks/line",
        body=raw,
        headers={"Content-Type": "application/json; charset=utf-8", "x-line-signature": sig},
        path_parameters={"channel": "line"},
    )


def demo_secret(channel: str) -> str:
    """The demo signing secret of a channel (local/secrets.json, via SECRET_REFS)."""
    return secrets()[SECRET_REFS[channel].removeprefix("local:")]


def webhook_post(channel: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return api_event(
        "POST",
        "/webhooks/{channel}",
        f"/webhooks/{channel}",
        body=raw,
        headers=headers,
        path_parameters={"channel": channel},
    )


# WhatsApp Cloud API (shared/channels.md §2.3): timestamps are strings of seconds
WHATSAPP_CUSTOMER = "66812345678"


def whatsapp_payload(
    *messages: dict[str, Any],
    statuses: tuple[dict[str, Any], ...] = (),
    names: dict[str, str] | None = None,
    phone_number_id: str = WHATSAPP_PHONE_NUMBER_ID,
    waba_id: str = WHATSAPP_WABA_ID,
) -> Any:
    """One ``messages`` change; ``contacts`` names every sender of ``messages``."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "66200000001", "phone_number_id": phone_number_id},
    }
    senders = list(dict.fromkeys(m["from"] for m in messages))
    if senders:
        value["contacts"] = [
            {"profile": {"name": (names or {}).get(wa_id, "Khun Somchai")}, "wa_id": wa_id}
            for wa_id in senders
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def whatsapp_text(wamid: str, text: str, *, wa_id: str = WHATSAPP_CUSTOMER, ts: int) -> Any:
    """``ts`` in ms (like T0); WhatsApp sends whole seconds as a string."""
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(ts // 1000),
        "type": "text",
        "text": {"body": text},
    }


def whatsapp_image(
    wamid: str,
    media_id: str,
    *,
    caption: str | None = None,
    mime_type: str = "image/jpeg",
    wa_id: str = WHATSAPP_CUSTOMER,
    ts: int,
) -> Any:
    image: dict[str, Any] = {
        "mime_type": mime_type,
        "sha256": "u2mJ3z9a0bW8bqf0m0m1xZ0Yp5d7l1t6lVtq7C4cQ1s=",
        "id": media_id,
    }
    if caption is not None:
        image = {"caption": caption, **image}
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(ts // 1000),
        "type": "image",
        "image": image,
    }


def whatsapp_status(wamid: str, status: str, *, recipient: str = WHATSAPP_CUSTOMER, ts: int) -> Any:
    """A ``statuses[]`` entry for one of the shop's outbound messages."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(ts // 1000),
        "recipient_id": recipient,
    }
    if status in ("sent", "delivered"):
        entry["conversation"] = {
            "id": "c0ffee00000000000000000000000001",
            "origin": {"type": "service"},
        }
        entry["pricing"] = {"billable": False, "pricing_model": "CBP", "category": "service"}
    if status == "failed":
        entry["errors"] = [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {
                    "details": "More than 24 hours have passed since the customer last replied."
                },
            }
        ]
    return entry


def whatsapp_webhook_event(payload: Any, secret: str | None = None) -> dict[str, Any]:
    """Signed like every Meta webhook: ``X-Hub-Signature-256`` over the escaped body."""
    raw = meta_json(payload)
    sig = sign_messenger(raw, secret or demo_secret("whatsapp"))
    return webhook_post(
        "whatsapp", raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sig}
    )


# Instagram Messaging (§2.2): Messenger-shaped, echoes inside ``message``
INSTAGRAM_CUSTOMER = "1790000000000001"  # an IGSID


def instagram_payload(*messaging: dict[str, Any], ig_id: str = INSTAGRAM_ACCOUNT_ID) -> Any:
    return {
        "object": "instagram",
        "entry": [{"time": m["timestamp"] + 80, "id": ig_id, "messaging": [m]} for m in messaging],
    }


def instagram_message(
    mid: str,
    text: str | None = None,
    *,
    igsid: str = INSTAGRAM_CUSTOMER,
    ig_id: str = INSTAGRAM_ACCOUNT_ID,
    ts: int,
    attachments: list[dict[str, Any]] | None = None,
) -> Any:
    message: dict[str, Any] = {"mid": mid}
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    return {
        "sender": {"id": igsid},
        "recipient": {"id": ig_id},
        "timestamp": ts,
        "message": message,
    }


def instagram_echo(
    mid: str,
    text: str,
    *,
    igsid: str = INSTAGRAM_CUSTOMER,
    ig_id: str = INSTAGRAM_ACCOUNT_ID,
    ts: int,
    app_id: int = 936619743392459,  # the Instagram inbox app, not ours
) -> Any:
    return {
        "sender": {"id": ig_id},
        "recipient": {"id": igsid},
        "timestamp": ts,
        "message": {"mid": mid, "text": text, "is_echo": True, "app_id": app_id},
    }


def instagram_deleted(
    mid: str, *, igsid: str = INSTAGRAM_CUSTOMER, ig_id: str = INSTAGRAM_ACCOUNT_ID, ts: int
) -> Any:
    """The customer unsent ``mid``."""
    return {
        "sender": {"id": igsid},
        "recipient": {"id": ig_id},
        "timestamp": ts,
        "message": {"mid": mid, "is_deleted": True},
    }


def instagram_webhook_event(payload: Any, secret: str | None = None) -> dict[str, Any]:
    raw = meta_json(payload)
    sig = sign_messenger(raw, secret or demo_secret("instagram"))
    return webhook_post(
        "instagram", raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sig}
    )


# Shopee Open Platform v2 push, code 10 = webchat (§2.5): ids are numbers, time in seconds
SHOPEE_BUYER_ID = "770000001"
SHOPEE_CONVERSATION_ID = "4735810987234156"


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def shopee_push(
    message_id: str,
    *,
    message_type: str = "text",
    content: dict[str, Any] | None = None,
    from_id: str = SHOPEE_BUYER_ID,
    to_id: str = SHOPEE_SHOP_USER_ID,
    conversation_id: str = SHOPEE_CONVERSATION_ID,
    shop_id: str = SHOPEE_SHOP_ID,
    ts: int,
) -> Any:
    """A webchat push as observed live; ``ts`` in ms (like T0), sent as seconds."""
    return {
        "code": 10,
        "shop_id": _number(shop_id),
        "timestamp": ts // 1000 + 1,
        "data": {
            "type": "message",
            "content": {
                "message_id": message_id,
                "conversation_id": conversation_id,
                "from_id": _number(from_id),
                "to_id": _number(to_id),
                "message_type": message_type,
                "content": content if content is not None else {},
                "created_timestamp": ts // 1000,
            },
        },
    }


def shopee_webhook_event(
    payload: Any, secret: str | None = None, *, callback_url: str = SHOPEE_CALLBACK_URL
) -> dict[str, Any]:
    raw = compact_json(payload)
    sig = sign_shopee(raw, secret or demo_secret("shopee"), callback_url)
    return webhook_post("shopee", raw, {"Content-Type": "application/json", "Authorization": sig})


# Lazada Open Platform push, IM (§2.6): the message push shape is [uncertain] (see the adapter)
LAZADA_BUYER_ID = "600000000001"


def lazada_session(seller_id: str = LAZADA_SELLER_ID, buyer_id: str = LAZADA_BUYER_ID) -> str:
    return f"100001_2_{seller_id}_1_{buyer_id}"


def lazada_message(
    message_id: str,
    content: Any,
    *,
    from_account_type: int = 1,
    seller_id: str = LAZADA_SELLER_ID,
    buyer_id: str = LAZADA_BUYER_ID,
    session_id: str | None = None,
    ts: int,
) -> Any:
    """A type-19 push carrying a message as ``/im/message/list`` returns it (``content`` a JSON
    string; ``from_account_type`` 1 buyer, 2 seller; ``send_time`` in ms)."""
    buyer_sent = from_account_type == 1
    return {
        "seller_id": seller_id,
        "message_type": 19,
        "data": {
            "session_id": session_id or lazada_session(seller_id, buyer_id),
            "message_id": message_id,
            "from_account_type": from_account_type,
            "from_account_id": buyer_id if buyer_sent else seller_id,
            "to_account_type": 2 if buyer_sent else 1,
            "to_account_id": seller_id if buyer_sent else buyer_id,
            "send_time": ts,
            "type": 1,
            "template_id": 1,
            "content": content if isinstance(content, str) else compact_json(content).decode(),
        },
        "timestamp": ts // 1000 + 1,
        "site": LAZADA_SITE,
    }


def lazada_webhook_event(
    payload: Any, secret: str | None = None, *, app_key: str | None = LAZADA_APP_KEY
) -> dict[str, Any]:
    """``app_key=None`` signs the body alone (a connection's ``signature_variant: body``)."""
    raw = compact_json(payload)
    sig = sign_lazada(raw, secret or demo_secret("lazada"), app_key)
    return webhook_post("lazada", raw, {"Content-Type": "application/json", "Authorization": sig})


def customer_message_event(
    channel: str, account_id: str, message_id: str, text: str, *, customer_id: str, ts: int
) -> dict[str, Any]:
    """A signed webhook carrying one customer text message to ``account_id``, for any channel
    (demo secrets and demo connection options; ``ts`` in ms)."""
    if channel == "messenger":
        message = messenger_message(message_id, text, psid=customer_id, ts=ts)
        message["recipient"]["id"] = account_id
        return messenger_webhook_event(messenger_payload(message, page_id=account_id))
    if channel == "line":
        event = line_text(message_id, text, user=customer_id, ts=ts)
        return line_webhook_event(line_payload(event, bot_id=account_id))
    if channel == "whatsapp":
        message = whatsapp_text(message_id, text, wa_id=customer_id, ts=ts)
        return whatsapp_webhook_event(whatsapp_payload(message, phone_number_id=account_id))
    if channel == "instagram":
        message = instagram_message(message_id, text, igsid=customer_id, ig_id=account_id, ts=ts)
        return instagram_webhook_event(instagram_payload(message, ig_id=account_id))
    if channel == "shopee":
        push = shopee_push(
            message_id, content={"text": text}, from_id=customer_id, shop_id=account_id, ts=ts
        )
        return shopee_webhook_event(push)
    if channel == "lazada":
        push = lazada_message(
            message_id, {"txt": text}, seller_id=account_id, buyer_id=customer_id, ts=ts
        )
        return lazada_webhook_event(push)
    raise ValueError(f"no demo webhook for channel {channel!r}")


CLAIMS = {"sub": AGENT_ID, "custom:workspace_id": WORKSPACE_ID}
T0 = 1764000000000  # 2025-11-24T16:00:00Z, the channel timestamps of the samples


def sample_events() -> dict[str, Any]:
    first = messenger_message("m_demo_0001", "Hi! Is the blue dress in stock?", ts=T0)
    echo = {
        "sender": {"id": MESSENGER_PAGE_ID},
        "recipient": {"id": "6000000000000001"},
        "timestamp": T0 + 60_000,
        "message": {
            "mid": "m_demo_echo_0001",
            "is_echo": True,
            "app_id": 1517776481860111,
            "text": "Yes, sizes S to L.",
        },
    }
    second = messenger_message("m_demo_0002", "Great, ขอบคุณค่ะ 🙏", ts=T0 + 120_000)
    bad = messenger_webhook_event(messenger_payload(first))
    bad["headers"]["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    bad["multiValueHeaders"]["X-Hub-Signature-256"] = [bad["headers"]["X-Hub-Signature-256"]]
    line_event = line_text("500000000000001", "สวัสดีค่ะ มีสีแดงไหม", ts=T0 + 5_000)
    verify = api_event(
        "GET",
        "/webhooks/{channel}",
        "/webhooks/messenger",
        path_parameters={"channel": "messenger"},
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": secrets()["meta-verify-token"],
            "hub.challenge": "1158201444",
        },
    )
    wa_image = whatsapp_image(
        "wamid.HBgLNjY4MTIzNDU2NzgVAgASGBQzRUIwREVNTzAwMDAwMDAwMDAwMgA=",
        "1480000000000001",
        caption="ชุดนี้สีแดงมีไหมคะ",
        ts=T0 + 30_000,
    )
    wa_out = "wamid.HBgLNjY4MTIzNDU2NzgVAgARGBI0REVNT09VVDAwMDAwMDAwMQA="
    ig_mid = (
        "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcx"
        "MDMwMTI0NDI1OTk1ODIwNTQ0NzE0ODQ4MDo3MzAwMDAwMDAwMDAwMDAwMDAxAA=="
    )
    ig_message = instagram_message(
        ig_mid,
        "Is this bag still available? 👜",
        ts=T0 + 40_000,
        attachments=[
            {
                "type": "image",
                "payload": {
                    "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000001&signature=demo"
                },
            }
        ],
    )
    shopee_message = shopee_push(
        "2194806418238210120", content={"text": "สินค้าจะส่งเมื่อไหร่คะ"}, ts=T0 + 50_000
    )
    lazada_msg = lazada_message(
        "1e2b3c4d5f6a7b8c", {"txt": "Hi, can I change my order size to M?"}, ts=T0 + 55_000
    )
    lazada_update = {
        "seller_id": LAZADA_SELLER_ID,
        "message_type": 19,
        "data": {
            "sync_type": "SESSION_UPDATE",
            "session_id": lazada_session(),
            "user_account_type": 2,
            "unread_count": 1,
        },
        "timestamp": (T0 + 56_000) // 1000,
        "site": LAZADA_SITE,
    }
    return {
        "webhook_whatsapp_message": whatsapp_webhook_event(
            whatsapp_payload(
                whatsapp_text(
                    "wamid.HBgLNjY4MTIzNDU2NzgVAgASGBQzRUIwREVNTzAwMDAwMDAwMDAwMQA=",
                    "สวัสดีค่ะ ชุดเดรสสีฟ้ายังมีไซส์ M ไหมคะ",
                    ts=T0 + 20_000,
                )
            )
        ),
        "webhook_whatsapp_image": whatsapp_webhook_event(whatsapp_payload(wa_image)),
        "webhook_whatsapp_statuses": whatsapp_webhook_event(
            whatsapp_payload(
                statuses=(
                    whatsapp_status(wa_out, "delivered", ts=T0 + 70_000),
                    whatsapp_status(wa_out, "read", ts=T0 + 95_000),
                )
            )
        ),
        "webhook_instagram_message": instagram_webhook_event(instagram_payload(ig_message)),
        "webhook_instagram_deleted": instagram_webhook_event(
            instagram_payload(instagram_deleted(ig_mid, ts=T0 + 100_000))
        ),
        "webhook_shopee_message": shopee_webhook_event(shopee_message),
        "webhook_lazada_message": lazada_webhook_event(lazada_msg),
        "webhook_lazada_session_update": lazada_webhook_event(lazada_update),
        "webhook_messenger_message": messenger_webhook_event(messenger_payload(first)),
        "webhook_messenger_batch": messenger_webhook_event(messenger_payload(echo, second)),
        "webhook_messenger_bad_signature": bad,
        "webhook_messenger_verify": verify,
        "webhook_line_message": line_webhook_event(line_payload(line_event)),
        "webhook_line_redelivery": line_webhook_event(
            line_payload(
                line_text("500000000000001", "สวัสดีค่ะ มีสีแดงไหม", ts=T0 + 5_000, redelivery=True)
            )
        ),
        "ticket_api_list_open": api_event(
            "GET", "/tickets", "/tickets", query={"status": "open", "limit": "25"}, claims=CLAIMS
        ),
        "ticket_api_get_ticket": api_event(
            "GET",
            "/tickets/{ticket_id}",
            "/tickets/t_01JDEMO0000000000000000000",
            path_parameters={"ticket_id": "t_01JDEMO0000000000000000000"},
            claims=CLAIMS,
        ),
        **_review_api_events(),
        **_comment_events(),
        **_automation_rule_events(),
        **_analytics_events(),
    }


def _analytics_events() -> dict[str, Any]:
    from local.analytics_samples import api_events  # ticket analytics (issue #6, part 3)

    return api_events()


def _comment_events() -> dict[str, Any]:
    from local.comment_samples import sample_events as comment_events  # comments (issue #5)

    return comment_events()


def _automation_rule_events() -> dict[str, Any]:
    """Assignment automation rules (issue #6): list as an agent, create as an admin."""
    rule = {
        "name": "Refunds to billing",
        "conditions": {"channels": ["messenger"], "keywords": ["refund"]},
        "actions": {"assign": {"mode": "round_robin", "team_id": "billing"}},
    }
    return {
        "ticket_api_list_automation_rules": api_event(
            "GET", "/automation/rules", "/automation/rules", claims=CLAIMS
        ),
        "ticket_api_create_automation_rule": api_event(
            "POST",
            "/automation/rules",
            "/automation/rules",
            body=json.dumps(rule).encode(),
            headers={"Content-Type": "application/json"},
            claims={**CLAIMS, "cognito:groups": "admin"},
        ),
    }


def _review_api_events() -> dict[str, Any]:
    from local.review_samples import api_events  # reviews (issue #5): its own sample module

    return api_events()


def write_events() -> None:
    """events/<name>.json (API Gateway events) and, for webhooks, events/bodies/<name>.json: the
    exact signed bytes, for curl --data-binary."""
    (EVENTS_DIR / "bodies").mkdir(parents=True, exist_ok=True)
    for name, event in sample_events().items():
        text = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        (EVENTS_DIR / f"{name}.json").write_text(text)
        if name.startswith("webhook_") and event["httpMethod"] == "POST":
            (EVENTS_DIR / "bodies" / f"{name}.json").write_bytes(event["body"].encode())
    from local import outbox_events  # the outbox sender's SQS samples (events/outbox_sender/)

    outbox_events.write_events()
    from local.auto_close_samples import write_auto_close_events  # issue #6: the schedule's event

    write_auto_close_events()
    from local.analytics_samples import write_events as write_analytics_events  # issue #6 part 3

    write_analytics_events()


def curl_command(name: str, base_url: str = "http://127.0.0.1:3000") -> str:
    """A curl that replays a sample webhook against the local API, headers included."""
    event = sample_events()[name]
    headers = " ".join(f"-H '{k}: {v}'" for k, v in event["headers"].items())
    return (
        f"curl -sS -X {event['httpMethod']} {base_url}{event['path']} {headers} "
        f"--data-binary @events/bodies/{name}.json"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["events"]:
        write_events()
    elif len(sys.argv) == 3 and sys.argv[1] == "curl":
        print(curl_command(sys.argv[2]))
    else:
        print("usage: python -m local.demo events | curl <sample name>", file=sys.stderr)
        sys.exit(2)
