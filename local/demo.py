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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / "local" / "secrets.json"
EVENTS_DIR = ROOT / "events"

WORKSPACE_ID = "ws-demo"
AGENT_ID = "agent-demo"
MESSENGER_PAGE_ID = "100000000000001"
LINE_BOT_ID = "U0000000000000000000000000000demo"
SECRET_REFS = {
    "messenger": "local:messenger-app-secret",
    "line": "local:line-channel-secret",
    "meta_verify_token": "local:meta-verify-token",
}


def secrets() -> dict[str, str]:
    data: dict[str, str] = json.loads(SECRETS_FILE.read_text())
    return data


def seed_demo() -> dict[str, Any]:
    """Create the demo workspace and its Messenger and LINE connections (idempotent)."""
    from ticketing.models import Channel, ChannelConnection, WorkspaceSettings
    from ticketing.repository.dynamodb import get_repository

    repo = get_repository()
    repo.put_workspace(WorkspaceSettings(workspace_id=WORKSPACE_ID, name="Demo shop"))
    repo.put_connection(
        ChannelConnection(
            channel=Channel.MESSENGER,
            account_id=MESSENGER_PAGE_ID,
            workspace_id=WORKSPACE_ID,
            display_name="Demo shop Page",
            secret_ref=SECRET_REFS["messenger"],
        )
    )
    repo.put_connection(
        ChannelConnection(
            channel=Channel.LINE,
            account_id=LINE_BOT_ID,
            workspace_id=WORKSPACE_ID,
            display_name="Demo shop LINE OA",
            secret_ref=SECRET_REFS["line"],
        )
    )
    return {
        "workspace_id": WORKSPACE_ID,
        "messenger_page_id": MESSENGER_PAGE_ID,
        "line_bot_id": LINE_BOT_ID,
        "secrets_file": str(SECRETS_FILE.relative_to(ROOT)),
    }


# ---------------------------------------------------------------------------- sample events
def sign_messenger(raw: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def sign_line(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def meta_json(payload: Any) -> bytes:
    """Meta sends compact JSON with non-ASCII escaped as \\uXXXX; we sign those exact bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def line_json(payload: Any) -> bytes:
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
    return {
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
    }


def write_events() -> None:
    """events/<name>.json (API Gateway events) and, for webhooks, events/bodies/<name>.json: the
    exact signed bytes, for curl --data-binary."""
    (EVENTS_DIR / "bodies").mkdir(parents=True, exist_ok=True)
    for name, event in sample_events().items():
        text = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        (EVENTS_DIR / f"{name}.json").write_text(text)
        if name.startswith("webhook_") and event["httpMethod"] == "POST":
            (EVENTS_DIR / "bodies" / f"{name}.json").write_bytes(event["body"].encode())


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
