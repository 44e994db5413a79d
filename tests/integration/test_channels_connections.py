"""Webhooks for accounts that are disconnected, unknown, or send what we cannot parse.

- disconnected (PATCH status or DELETE through the connections API) → 200, nothing stored,
  outcome "disconnected", a log line and a metric;
- unknown → 200, nothing stored, ``unknown_accounts`` in the answer and a metric;
- malformed / oversized → 400 / 413, nothing stored, and the raw request kept exactly once under
  ``REJECTED#<channel>#<day>`` with a TTL 14 days ahead.

Every outcome is read back from DynamoDB Local. The webhook's connection cache is off
(CONNECTION_CACHE_SECONDS=0), so a disconnect is seen by the very next webhook.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.connections_api.app import lambda_handler as connections_api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext
from ticketing.models import Channel, ConnectionStatus, TicketStatus
from ticketing.repository import keys

pytestmark = pytest.mark.integration

CHANNELS = ["whatsapp", "instagram", "shopee", "lazada"]
T = demo.T0


def digits(n: int = 12) -> str:
    return str(uuid.uuid4().int)[:n]


@pytest.fixture
def fresh_connections(app_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection cache: every webhook reads the connection as it is now."""
    from functions.webhook_ingest.app import connections
    from ticketing.config import get_settings

    monkeypatch.setenv("CONNECTION_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    connections.cache_clear()


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


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The EMF metrics (name → summed value) the handler printed."""
    metrics: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "_aws" in record:
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    values = record[metric["Name"]]
                    total = sum(values) if isinstance(values, list) else values
                    metrics[metric["Name"]] = metrics.get(metric["Name"], 0) + total
    return metrics


def account_for(channel: str) -> str:
    """A unique account id shaped like the channel's own."""
    return {
        "whatsapp": digits(15),
        "instagram": "1784" + digits(13),
        "shopee": digits(9),
        "lazada": digits(12),
    }[channel]


def customer_for(channel: str) -> str:
    return {"whatsapp": "66" + digits(9), "instagram": digits(16)}.get(channel, digits(9))


def message_event(channel: str, account_id: str, message_id: str) -> dict[str, Any]:
    return demo.customer_message_event(
        channel, account_id, message_id, "hello", customer_id=customer_for(channel), ts=T
    )


def stored(repo: Any, workspace_id: str, channel: str, account_id: str, message_id: str) -> bool:
    key = keys.message_key(workspace_id, Channel(channel), account_id, message_id)
    response = repo.client.get_item(
        TableName=repo.table_name,
        Key={k: {"S": v} for k, v in key.items()},
        ConsistentRead=True,
    )
    return "Item" in response


def tickets(repo: Any, workspace_id: str) -> list[Any]:
    return [t for s in TicketStatus for t in repo.list_tickets(workspace_id, s, 100, None).items]


def admin_call(
    method: str,
    workspace_id: str,
    channel: str,
    account_id: str,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = demo.api_event(
        method,
        "/connections/{channel}/{account_id}",
        f"/connections/{channel}/{account_id}",
        body=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        path_parameters={"channel": channel, "account_id": account_id},
        claims={"sub": "admin-1", "custom:workspace_id": workspace_id, "cognito:groups": "admin"},
    )
    response = connections_api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


# ---------------------------------------------------------------------------- disconnected
@pytest.mark.parametrize("how", ["patch", "delete"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_disconnected_account_is_acknowledged_and_nothing_is_stored(
    accounts, repo, fresh_connections, capsys, caplog, channel, how
):
    # GIVEN a connected account with one conversation going on
    account_id = account_for(channel)
    repo.put_connection(demo.channel_connection(channel, account_id, accounts.workspace_id))
    before = digits(19)
    assert post(message_event(channel, account_id, before)).status == 200
    assert stored(repo, accounts.workspace_id, channel, account_id, before)

    # WHEN a workspace admin disconnects it through the connections API
    if how == "patch":
        status, body = admin_call(
            "PATCH", accounts.workspace_id, channel, account_id, {"status": "disconnected"}
        )
    else:
        status, body = admin_call("DELETE", accounts.workspace_id, channel, account_id)
    assert (status, body["status"]) == (200, "disconnected"), body
    capsys.readouterr()  # only the next webhook's output below
    caplog.clear()

    # AND the channel sends another signed message to it
    after = digits(19)
    answer = post(message_event(channel, account_id, after))

    # THEN 200 (the channel stops retrying), counted as "disconnected", with a log line and a
    # metric, and nothing is stored
    assert answer.status == 200, answer.text
    if channel == "shopee":
        assert answer.text == ""
    else:
        assert answer.json["outcomes"] == {"disconnected": 1}
    assert emitted_metrics(capsys).get("Events_disconnected") == 1
    assert "event for a disconnected account ignored" in caplog.messages
    assert not stored(repo, accounts.workspace_id, channel, account_id, after)
    (ticket,) = tickets(repo, accounts.workspace_id)
    assert ticket.messages_in == 1
    connection = repo.get_connection(Channel(channel), account_id)
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert connection.workspace_id == accounts.workspace_id


def test_disconnected_account_is_acknowledged_even_when_its_secret_is_gone(
    accounts, repo, fresh_connections
):
    # GIVEN a disconnected WhatsApp number whose signing secret was removed from the store
    account_id = account_for("whatsapp")
    connection = demo.channel_connection("whatsapp", account_id, accounts.workspace_id)
    repo.put_connection(
        connection.model_copy(
            update={"status": ConnectionStatus.DISCONNECTED, "secret_ref": "local:removed"}
        )
    )

    # WHEN WhatsApp keeps delivering to it
    message_id = f"wamid.{uuid.uuid4().hex}"
    answer = post(message_event("whatsapp", account_id, message_id))

    # THEN 200 all the same (a 5xx would make WhatsApp retry for 7 days), and nothing is stored
    assert answer.status == 200, answer.text
    assert answer.json["outcomes"] == {"disconnected": 1}
    assert not stored(repo, accounts.workspace_id, "whatsapp", account_id, message_id)


def test_reconnected_account_stores_again(accounts, repo, fresh_connections):
    # GIVEN a disconnected Lazada seller
    account_id = account_for("lazada")
    connection = demo.channel_connection("lazada", account_id, accounts.workspace_id)
    repo.put_connection(connection.model_copy(update={"status": ConnectionStatus.DISCONNECTED}))

    # WHEN the admin sets it active again and the seller's buyer writes
    status, body = admin_call(
        "PATCH", accounts.workspace_id, "lazada", account_id, {"status": "active"}
    )
    message_id = uuid.uuid4().hex[:16]
    answer = post(message_event("lazada", account_id, message_id))

    # THEN the message is stored on a new ticket
    assert (status, body["status"]) == (200, "active")
    assert answer.json["outcomes"] == {"created": 1}
    assert stored(repo, accounts.workspace_id, "lazada", account_id, message_id)


# ---------------------------------------------------------------------------- unknown
@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_account_is_acknowledged_and_nothing_is_stored(
    accounts, repo, fresh_connections, capsys, caplog, channel
):
    # GIVEN an account id no workspace has connected
    account_id = account_for(channel)
    assert repo.get_connection(Channel(channel), account_id) is None

    # WHEN a signed message for it arrives
    answer = post(message_event(channel, account_id, digits(19)))

    # THEN 200, nothing stored, the unknown account counted, logged and measured
    assert answer.status == 200, answer.text
    if channel == "shopee":
        assert answer.text == ""
    else:
        assert answer.json == {
            "received": 1,
            "outcomes": {"unknown_account": 1},
            "unknown_accounts": 1,
        }
    assert emitted_metrics(capsys).get("UnknownAccountEvents") == 1
    assert "webhook for an unknown account ignored" in caplog.messages
    assert repo.get_connection(Channel(channel), account_id) is None
    assert tickets(repo, accounts.workspace_id) == []


def test_unknown_number_next_to_a_connected_one_in_one_request(accounts, repo, fresh_connections):
    # GIVEN one WhatsApp request with a change for a connected number and one for an unknown one
    known, unknown = account_for("whatsapp"), account_for("whatsapp")
    repo.put_connection(demo.channel_connection("whatsapp", known, accounts.workspace_id))
    mids = [f"wamid.{uuid.uuid4().hex}" for _ in range(2)]
    payloads = [
        demo.whatsapp_payload(
            demo.whatsapp_text(mid, "hi", wa_id=customer_for("whatsapp"), ts=T),
            phone_number_id=number,
        )
        for mid, number in zip(mids, (known, unknown), strict=True)
    ]
    payload = {**payloads[0], "entry": payloads[0]["entry"] + payloads[1]["entry"]}

    # WHEN it is posted
    answer = post(demo.whatsapp_webhook_event(payload))

    # THEN 200: the connected number's message is stored, the other one is counted unknown
    assert answer.status == 200, answer.text
    assert answer.json == {
        "received": 2,
        "outcomes": {"created": 1, "unknown_account": 1},
        "unknown_accounts": 1,
    }
    assert stored(repo, accounts.workspace_id, "whatsapp", known, mids[0])
    assert not stored(repo, accounts.workspace_id, "whatsapp", unknown, mids[1])
    assert len(tickets(repo, accounts.workspace_id)) == 1


# ---------------------------------------------------------------------------- refused bodies
def rejected_items(repo: Any, channel: str, days: set[str], marker: str) -> list[dict[str, Any]]:
    """Items of the REJECTED#<channel>#<day> partitions whose kept body holds ``marker``."""
    found = []
    for day in sorted(days):
        kwargs: dict[str, Any] = {
            "TableName": repo.table_name,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"REJECTED#{channel}#{day}"}},
            "ConsistentRead": True,
        }
        while True:
            page = repo.client.query(**kwargs)
            found += [i for i in page["Items"] if marker.encode() in i["body"]["B"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def malformed_bodies(channel: str, account_id: str, marker: str) -> dict[str, bytes]:
    """Invalid JSON, wrong types and a missing field, each carrying ``marker``."""
    valid = json.loads(message_event(channel, account_id, digits(19))["body"])
    missing = json.loads(json.dumps(valid))
    wrong: dict[str, Any]
    if channel == "whatsapp":
        value = missing["entry"][0]["changes"][0]["value"]
        value["messages"][0]["text"]["body"] = marker
        del value["messages"][0]["id"]
        wrong = {"object": "whatsapp_business_account", "entry": marker}
    elif channel == "instagram":
        missing["entry"][0]["messaging"][0]["message"]["text"] = marker
        del missing["entry"][0]["messaging"][0]["sender"]
        wrong = {"object": "instagram", "entry": [{"id": marker, "messaging": "x"}]}
    elif channel == "shopee":
        missing["data"]["content"]["content"]["text"] = marker
        del missing["data"]["content"]["message_id"]
        wrong = {"code": 10, "shop_id": account_id, "data": {"type": "message", "content": marker}}
    else:
        missing["data"]["content"] = json.dumps({"txt": marker})
        del missing["seller_id"]
        wrong = {"seller_id": marker, "message_type": "session"}
    return {
        "invalid_json": b'{"marker": "' + marker.encode() + b'", "entry": [',
        "wrong_types": json.dumps(wrong).encode(),
        "missing_field": json.dumps(missing).encode(),
    }


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_types", "missing_field"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_malformed_body_is_400_and_kept_once_for_inspection(
    accounts, repo, fresh_connections, channel, kind
):
    # GIVEN a connected account and a body it cannot have sent as-is, carrying a marker
    account_id = account_for(channel)
    repo.put_connection(demo.channel_connection(channel, account_id, accounts.workspace_id))
    marker = f"marker-{uuid.uuid4().hex}"
    raw = malformed_bodies(channel, account_id, marker)[kind]
    event = demo.webhook_post(
        channel, raw, {"Content-Type": "application/json", "Authorization": "0" * 64}
    )

    # WHEN it is posted
    before = datetime.now(UTC)
    answer = post(event)
    after = datetime.now(UTC)

    # THEN 400 malformed_payload, nothing stored...
    assert answer.status == 400, answer.text
    assert answer.json["error"]["code"] == "malformed_payload"
    assert tickets(repo, accounts.workspace_id) == []
    # ...and exactly one copy of the raw request is kept, expiring 14 days later
    days = {f"{before:%Y-%m-%d}", f"{after:%Y-%m-%d}"}
    (item,) = rejected_items(repo, channel, days, marker)
    assert item["body"]["B"] == raw
    assert item["reason"]["S"] == "malformed_payload"
    assert int(item["body_size"]["N"]) == len(raw)
    assert item["headers"]["M"]["authorization"]["S"] == "0" * 64
    expires = datetime.fromtimestamp(int(item[keys.TTL_ATTRIBUTE]["N"]), tz=UTC)
    ttl = timedelta(days=keys.REJECTED_TTL_DAYS)
    assert before + ttl - timedelta(seconds=1) <= expires <= after + ttl
    assert keys.REJECTED_TTL_DAYS == 14


def test_oversized_body_is_413_and_kept_truncated(accounts, repo, fresh_connections, monkeypatch):
    # GIVEN a 2 KiB body limit and a signed WhatsApp request above it
    from ticketing.config import get_settings

    monkeypatch.setenv("MAX_WEBHOOK_BODY_BYTES", "2048")
    get_settings.cache_clear()
    account_id = account_for("whatsapp")
    repo.put_connection(demo.channel_connection("whatsapp", account_id, accounts.workspace_id))
    marker = f"marker-{uuid.uuid4().hex}"
    message_id = f"wamid.{uuid.uuid4().hex}"
    text = marker + " " + "x" * 4096
    event = demo.customer_message_event(
        "whatsapp", account_id, message_id, text, customer_id=customer_for("whatsapp"), ts=T
    )

    # WHEN it is posted
    before = datetime.now(UTC)
    answer = post(event)
    after = datetime.now(UTC)

    # THEN 413, nothing stored, and the request kept once for inspection
    assert answer.status == 413, answer.text
    assert answer.json["error"]["code"] == "payload_too_large"
    assert not stored(repo, accounts.workspace_id, "whatsapp", account_id, message_id)
    days = {f"{before:%Y-%m-%d}", f"{after:%Y-%m-%d}"}
    (item,) = rejected_items(repo, "whatsapp", days, marker)
    assert item["reason"]["S"] == "payload_too_large"
    assert item["body"]["B"] == event["body"].encode()
    assert int(item["body_size"]["N"]) == len(event["body"].encode())
