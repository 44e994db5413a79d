"""The channel-connections API (workspace admins) through its real handler, on DynamoDB Local.

Admins connect, list, read, update and disconnect their channel accounts; nobody else can, no
other workspace can see or touch them, and no answer ever carries a secret value.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from functions.connections_api.app import lambda_handler as connections_api
from functions.webhook_ingest.app import lambda_handler as ingest
from local import demo
from tests.helpers import FakeLambdaContext, unique
from ticketing.models import Channel, ConnectionStatus, TicketStatus

pytestmark = pytest.mark.integration

ITEM = "/connections/{channel}/{account_id}"
RESPONSE_FIELDS = {"channel", "account_id", "display_name", "secret_ref", "status", "options"}
SECRET_VALUES = sorted(demo.secrets().values())


def digits(n: int = 12) -> str:
    return str(uuid.uuid4().int)[:n]


def admin(workspace_id: str) -> dict[str, str]:
    return {"sub": "admin-1", "custom:workspace_id": workspace_id, "cognito:groups": "admin"}


def agent(workspace_id: str) -> dict[str, str]:
    return {"sub": "agent-1", "custom:workspace_id": workspace_id, "cognito:groups": "agents"}


class Api:
    """Calls the handler as API Gateway would, and remembers every answer body."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def call(
        self,
        method: str,
        path: str,
        claims: dict[str, str] | None,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        item = len(parts) == 3
        event = demo.api_event(
            method,
            ITEM if item else "/connections",
            path,
            body=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
            path_parameters={"channel": parts[1], "account_id": parts[2]} if item else None,
            query=query,
            claims=claims,
        )
        response = connections_api(event, FakeLambdaContext())
        self.bodies.append(response["body"])
        return response["statusCode"], json.loads(response["body"])

    def never_returned_a_secret(self) -> bool:
        return not any(secret in body for body in self.bodies for secret in SECRET_VALUES)


@pytest.fixture
def api(app_env: None) -> Api:
    return Api()


@pytest.fixture
def workspace_b(accounts: Any, repo: Any) -> str:
    from ticketing.models import WorkspaceSettings

    workspace_id = unique("ws-b-")
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, name="Other shop"))
    return workspace_id


def shopee_request(shop_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "channel": "shopee",
        "account_id": shop_id,
        "display_name": "Shop on Shopee",
        "secret_ref": demo.SECRET_REFS["shopee"],
        "options": {"callback_url": demo.SHOPEE_CALLBACK_URL, "shop_user_id": digits(9)},
        **changes,
    }


# ---------------------------------------------------------------------------- the admin's way
def test_admin_connects_reads_updates_and_disconnects_without_seeing_a_secret(
    accounts, repo, api, monkeypatch
):
    # GIVEN a workspace admin and a Shopee shop to connect
    monkeypatch.setenv("CONNECTION_CACHE_SECONDS", "0")
    from ticketing.config import get_settings

    get_settings.cache_clear()
    claims = admin(accounts.workspace_id)
    shop_id = digits(9)
    path = f"/connections/shopee/{shop_id}"
    request = shopee_request(shop_id)

    # WHEN it is connected
    status, created = api.call("POST", "/connections", claims, request)

    # THEN 201 with the connection (its secret's reference, not the secret), stored as active
    assert status == 201, created
    assert set(created) == RESPONSE_FIELDS
    assert created == {**request, "status": "active"}
    stored = repo.get_connection(Channel.SHOPEE, shop_id)
    assert stored.workspace_id == accounts.workspace_id
    assert stored.status is ConnectionStatus.ACTIVE
    assert stored.options == request["options"]

    # AND the shop's signed webhooks now open tickets in the workspace
    buyer = digits(9)
    event = demo.shopee_webhook_event(
        demo.shopee_push(
            digits(19),
            content={"text": "hi"},
            from_id=buyer,
            to_id=request["options"]["shop_user_id"],
            shop_id=shop_id,
            ts=demo.T0,
        )
    )
    assert ingest(event, FakeLambdaContext())["statusCode"] == 200
    assert len(repo.list_tickets(accounts.workspace_id, TicketStatus.OPEN, 10, None).items) == 1

    # WHEN it is read and listed
    get_status, got = api.call("GET", path, claims)
    list_status, listed = api.call("GET", "/connections", claims)

    # THEN both show it as created
    assert (get_status, got) == (200, created)
    assert list_status == 200
    assert created in listed["items"]

    # WHEN its display name, secret reference and options are updated
    changes = {
        "display_name": "Shopee TH flagship",
        "secret_ref": "ssm:/ticket-engine/shopee/partner-key",
        "options": {"callback_url": "https://hooks.example.com/prod/webhooks/shopee"},
    }
    status, updated = api.call("PATCH", path, claims, changes)

    # THEN the answer and the store have the new values; nothing else changed
    assert status == 200, updated
    assert updated == {**created, **changes}
    stored = repo.get_connection(Channel.SHOPEE, shop_id)
    assert (stored.display_name, stored.secret_ref, stored.options) == (
        changes["display_name"],
        changes["secret_ref"],
        changes["options"],
    )
    assert stored.workspace_id == accounts.workspace_id

    # WHEN it is disconnected
    status, deleted = api.call("DELETE", path, claims)

    # THEN it is kept, marked disconnected
    assert status == 200, deleted
    assert deleted == {**updated, "status": "disconnected"}
    stored = repo.get_connection(Channel.SHOPEE, shop_id)
    assert stored.status is ConnectionStatus.DISCONNECTED
    assert api.call("GET", path, claims) == (200, deleted)

    # AND no answer ever carried a secret value
    assert api.never_returned_a_secret()


def test_list_is_paginated_and_only_the_workspace_s_own(accounts, repo, api, workspace_b):
    # GIVEN five connections in workspace A (besides its Page and LINE bot) and one in B
    claims = admin(accounts.workspace_id)
    mine = set()
    for channel in ("whatsapp", "instagram", "lazada", "whatsapp", "shopee"):
        account_id = digits(12)
        options = demo.DEMO_OPTIONS.get(channel, {})
        status, body = api.call(
            "POST",
            "/connections",
            claims,
            {
                "channel": channel,
                "account_id": account_id,
                "secret_ref": demo.SECRET_REFS[channel],
                "options": options,
            },
        )
        assert status == 201, body
        mine.add((channel, account_id))
    mine |= {("messenger", accounts.page_id), ("line", accounts.line_bot_id)}
    other = digits(12)
    status, _ = api.call(
        "POST",
        "/connections",
        admin(workspace_b),
        {"channel": "whatsapp", "account_id": other, "secret_ref": demo.SECRET_REFS["whatsapp"]},
    )
    assert status == 201

    # WHEN A lists them two at a time
    pages: list[list[tuple[str, str]]] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, body = api.call("GET", "/connections", claims, query=query)
        assert status == 200, body
        pages.append([(i["channel"], i["account_id"]) for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10

    # THEN every one of A's connections comes exactly once, none of B's, in pages of two
    listed = [c for page in pages for c in page]
    assert sorted(listed) == sorted(mine)
    assert all(len(page) <= 2 for page in pages)
    assert len(pages) >= 4
    assert ("whatsapp", other) not in listed

    # AND A's page token is refused to B
    status, body = api.call("GET", "/connections", claims, query={"limit": "2"})
    status_b, body_b = api.call(
        "GET", "/connections", admin(workspace_b), query={"cursor": body["next_cursor"]}
    )
    assert (status_b, body_b["error"]["code"]) == (400, "invalid_cursor")
    assert api.never_returned_a_secret()


# ---------------------------------------------------------------------------- who may call
ROUTES = [
    ("GET", "/connections", None),
    ("POST", "/connections", "create"),
    ("GET", "/connections/whatsapp/{id}", None),
    ("PATCH", "/connections/whatsapp/{id}", {"display_name": "x"}),
    ("DELETE", "/connections/whatsapp/{id}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_agents_who_are_not_admins_get_403(accounts, repo, api, method, path, body):
    # GIVEN a connected WhatsApp number and an agent of the same workspace who is not an admin
    account_id = digits(15)
    repo.put_connection(demo.channel_connection("whatsapp", account_id, accounts.workspace_id))
    if body == "create":
        body = {
            "channel": "whatsapp",
            "account_id": digits(15),
            "secret_ref": demo.SECRET_REFS["whatsapp"],
        }

    # WHEN the agent calls the route
    status, answer = api.call(
        method, path.format(id=account_id), agent(accounts.workspace_id), body
    )

    # THEN 403, and the connection is unchanged
    assert status == 403, answer
    assert answer["error"]["code"] == "forbidden"
    assert repo.get_connection(Channel.WHATSAPP, account_id) == demo.channel_connection(
        "whatsapp", account_id, accounts.workspace_id
    )
    if method == "POST":
        assert repo.get_connection(Channel.WHATSAPP, body["account_id"]) is None


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_calls_without_claims_get_401(accounts, repo, api, method, path, body):
    # GIVEN a connected WhatsApp number
    account_id = digits(15)
    repo.put_connection(demo.channel_connection("whatsapp", account_id, accounts.workspace_id))
    if body == "create":
        body = {
            "channel": "whatsapp",
            "account_id": digits(15),
            "secret_ref": demo.SECRET_REFS["whatsapp"],
        }

    # WHEN a route is called without an authorizer context
    status, answer = api.call(method, path.format(id=account_id), None, body)

    # THEN 401 and nothing changes
    assert status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
    assert repo.get_connection(Channel.WHATSAPP, account_id).status is ConnectionStatus.ACTIVE


# ---------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize(
    "secret_ref",
    [
        "plain-secret",
        "demo-shopee-partner-key",
        "ssm:/another-app/key",
        "secretsmanager:other/key",
        "local:",
    ],
)
def test_secret_ref_that_is_not_a_reference_is_422_naming_the_field(
    accounts, repo, api, secret_ref
):
    # GIVEN an admin and a connected Lazada seller
    claims = admin(accounts.workspace_id)
    seller = digits(12)
    repo.put_connection(demo.channel_connection("lazada", seller, accounts.workspace_id))
    new_shop = digits(9)

    # WHEN a connection is created, or the seller updated, with a secret where its reference goes
    created = api.call(
        "POST", "/connections", claims, shopee_request(new_shop, secret_ref=secret_ref)
    )
    patched = api.call("PATCH", f"/connections/lazada/{seller}", claims, {"secret_ref": secret_ref})

    # THEN both are 422 validation_error naming secret_ref, nothing is stored or changed, and the
    # value is not echoed back
    for status, body in (created, patched):
        assert status == 422, body
        assert body["error"]["code"] == "validation_error"
        assert any(e["loc"].endswith("secret_ref") for e in body["error"]["details"]["errors"])
    assert repo.get_connection(Channel.SHOPEE, new_shop) is None
    assert repo.get_connection(Channel.LAZADA, seller).secret_ref == demo.SECRET_REFS["lazada"]
    assert api.never_returned_a_secret()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"workspace_id": "ws-elsewhere"}, "workspace_id"),
        ({"status": "deleted"}, "status"),
        ({"options": {"app_key": 123}}, "options"),
    ],
)
def test_update_refuses_unknown_fields_and_values(accounts, repo, api, body, field):
    # GIVEN a connected Lazada seller
    seller = digits(12)
    repo.put_connection(demo.channel_connection("lazada", seller, accounts.workspace_id))

    # WHEN an admin PATCHes a field that cannot be changed, or a bad value
    status, answer = api.call(
        "PATCH", f"/connections/lazada/{seller}", admin(accounts.workspace_id), body
    )

    # THEN 422 naming it, and the connection is unchanged (it cannot move to another workspace)
    assert status == 422, answer
    assert any(field in e["loc"] for e in answer["error"]["details"]["errors"])
    assert repo.get_connection(Channel.LAZADA, seller) == demo.channel_connection(
        "lazada", seller, accounts.workspace_id
    )


def test_empty_update_is_400(accounts, repo, api):
    # GIVEN a connected Instagram account
    ig_id = "1784" + digits(13)
    repo.put_connection(demo.channel_connection("instagram", ig_id, accounts.workspace_id))
    # WHEN an admin PATCHes nothing
    status, answer = api.call(
        "PATCH", f"/connections/instagram/{ig_id}", admin(accounts.workspace_id), {}
    )
    # THEN 400: there is nothing to update
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


# ---------------------------------------------------------------------------- other workspaces
def test_account_connected_to_another_workspace_is_409_and_stays_theirs(
    accounts, repo, api, workspace_b
):
    # GIVEN a Shopee shop connected to workspace A
    shop_id = digits(9)
    status, created = api.call(
        "POST", "/connections", admin(accounts.workspace_id), shopee_request(shop_id)
    )
    assert status == 201, created

    # WHEN workspace B's admin connects the same shop
    status, answer = api.call(
        "POST",
        "/connections",
        admin(workspace_b),
        shopee_request(shop_id, display_name="Not yours", secret_ref="local:b-partner-key"),
    )

    # THEN 409, saying nothing about A, and the shop is still A's, unchanged
    assert status == 409, answer
    assert answer["error"]["code"] == "conflict"
    assert accounts.workspace_id not in json.dumps(answer)
    stored = repo.get_connection(Channel.SHOPEE, shop_id)
    assert stored.workspace_id == accounts.workspace_id
    assert (stored.display_name, stored.secret_ref) == (
        created["display_name"],
        created["secret_ref"],
    )

    # AND A reconnecting its own shop is fine (idempotent create)
    status, again = api.call(
        "POST", "/connections", admin(accounts.workspace_id), shopee_request(shop_id)
    )
    assert status == 201, again


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"display_name": "taken over"}), ("DELETE", None)],
)
def test_another_workspace_gets_404_for_the_connection(
    accounts, repo, api, workspace_b, method, body
):
    # GIVEN workspace A's connected WhatsApp number
    number = digits(15)
    mine = demo.channel_connection("whatsapp", number, accounts.workspace_id)
    repo.put_connection(mine)

    # WHEN workspace B's admin reads, updates or disconnects it
    status, answer = api.call(method, f"/connections/whatsapp/{number}", admin(workspace_b), body)

    # THEN 404 (as if it did not exist), and A's connection is untouched
    assert status == 404, answer
    assert answer["error"]["code"] == "not_found"
    assert repo.get_connection(Channel.WHATSAPP, number) == mine


def test_unknown_connection_is_404(accounts, api):
    # GIVEN an account id nobody connected
    path = f"/connections/lazada/{digits(12)}"
    claims = admin(accounts.workspace_id)
    # WHEN an admin reads, updates or disconnects it
    answers = [
        api.call("GET", path, claims),
        api.call("PATCH", path, claims, {"display_name": "x"}),
        api.call("DELETE", path, claims),
    ]
    # THEN 404 each time
    assert [status for status, _ in answers] == [404, 404, 404]
