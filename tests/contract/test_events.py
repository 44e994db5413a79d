"""events/: the sample events serve `sam local invoke -e` and pytest, so they must stay true.

Each is an API Gateway REST proxy event for a route of the template; every signed webhook is signed
with the demo secret (except the deliberately bad one); and the files equal what
``python -m local.demo events`` generates, so they cannot drift from the code.
"""

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from local import demo
from local.template import api_routes, load_template
from tests.helpers import EVENTS, load_event
from ticketing.channels import get_adapter
from ticketing.models.records import Channel

ROUTES = {(r.method, r.path): r for r in api_routes(load_template())}
NOT_EVENTS = {"env.json"}  # sam local's --env-vars file
EVENT_FILES = sorted(p for p in EVENTS.glob("*.json") if p.name not in NOT_EVENTS)
NAMES = [p.stem for p in EVENT_FILES]
SECRETS = json.loads((demo.ROOT / "local" / "secrets.json").read_text())
BAD_SIGNATURE = {"webhook_messenger_bad_signature"}
# channel → (signature header, signer over (raw body, demo secret) with the demo connection's
# non-secret inputs: Shopee's callback URL, Lazada's app key)
SIGNATURES: dict[str, tuple[str, Callable[[bytes, str], str]]] = {
    "messenger": ("x-hub-signature-256", demo.sign_messenger),
    "whatsapp": ("x-hub-signature-256", demo.sign_messenger),
    "instagram": ("x-hub-signature-256", demo.sign_messenger),
    "line": ("x-line-signature", demo.sign_line),
    "shopee": ("authorization", demo.sign_shopee),
    "lazada": ("authorization", demo.sign_lazada),
}
META_CHANNELS = {"messenger", "whatsapp", "instagram"}
PROXY_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}


def lower(headers: dict[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def raw_body(event: dict[str, Any]) -> bytes:
    body = event["body"] or ""
    return base64.b64decode(body) if event["isBase64Encoded"] else body.encode()


def test_there_are_samples():
    # GIVEN the events folder
    # WHEN its sample events are listed
    # THEN there are some, so the checks below are not vacuous
    assert len(EVENT_FILES) >= 2


# ---------------------------------------------------------------------------- shape and routes
@pytest.mark.parametrize("name", NAMES)
def test_event_is_a_rest_proxy_event_for_a_template_route(name):
    # GIVEN a sample event
    event = load_event(name)
    # WHEN its shape and route are checked
    route = ROUTES.get((event["httpMethod"], event["resource"]))
    # THEN it is a REST (v1) proxy event for a route of the template
    assert set(event) >= PROXY_KEYS
    assert route is not None, f"{event['httpMethod']} {event['resource']} is not in template.yaml"
    context = event["requestContext"]
    assert context["resourcePath"] == event["resource"]
    assert context["httpMethod"] == event["httpMethod"]
    assert isinstance(context["requestId"], str)
    assert isinstance(event["isBase64Encoded"], bool)
    assert event["body"] is None or isinstance(event["body"], str)


@pytest.mark.parametrize("name", NAMES)
def test_path_parameters_fill_the_resource(name):
    # GIVEN a sample event
    event = load_event(name)
    names = re.findall(r"{(\w+)}", event["resource"])
    params = event["pathParameters"] or {}
    # WHEN the resource's placeholders are filled with its path parameters
    path = re.sub(r"{(\w+)}", lambda m: params[m[1]], event["resource"])
    # THEN they are exactly the placeholders, and give the event's path
    assert sorted(params) == sorted(names)
    assert path == event["path"]


@pytest.mark.parametrize("name", NAMES)
def test_multi_value_fields_agree(name):
    # GIVEN a sample event
    event = load_event(name)
    # WHEN its single- and multi-value headers and query strings are compared
    # THEN they carry the same values (API Gateway sends both)
    headers = event["headers"] or {}
    assert event["multiValueHeaders"] == {k: [v] for k, v in headers.items()}
    query = event["queryStringParameters"]
    multi = event["multiValueQueryStringParameters"]
    assert multi == ({k: [v] for k, v in query.items()} if query else None)


@pytest.mark.parametrize("name", NAMES)
def test_credentials_only_where_the_route_needs_them(name):
    # GIVEN a sample event and its route's authorizer
    event = load_event(name)
    route = ROUTES[(event["httpMethod"], event["resource"])]
    claims = event["requestContext"].get("authorizer", {}).get("claims")
    # WHEN its claims are read
    # THEN authorised routes carry Cognito claims (sub + workspace); open ones carry none
    if route.auth_none:
        assert claims is None
    else:
        assert claims
        assert claims.get("sub")
        assert claims.get("custom:workspace_id")


# ---------------------------------------------------------------------------- signatures
def channel_of(event: dict[str, Any]) -> str:
    channel: str = (event["pathParameters"] or {}).get("channel", "")
    return channel


SIGNED = [
    name
    for name in NAMES
    if (event := load_event(name))["httpMethod"] == "POST"
    and channel_of(event) in SIGNATURES
    and SIGNATURES[channel_of(event)][0] in lower(event["headers"])
]


def test_every_channel_has_a_signed_sample():
    # GIVEN the signed webhook samples
    # WHEN their channels are collected
    channels = {channel_of(load_event(name)) for name in SIGNED if name not in BAD_SIGNATURE}
    # THEN every channel of the registry has at least one correctly signed sample
    assert channels == set(SIGNATURES) == {c.value for c in Channel}


def test_webhook_posts_are_signed():
    # GIVEN the webhook POST samples
    posts = {n for n in NAMES if load_event(n)["httpMethod"] == "POST" and n.startswith("webhook")}
    # WHEN compared with the samples carrying a signature header
    # THEN every one of them is signed (and the bad one is among them)
    assert posts
    assert posts == set(SIGNED)
    assert set(SIGNED) >= BAD_SIGNATURE


@pytest.mark.parametrize("name", SIGNED)
def test_signature_matches_the_demo_secret(name):
    # GIVEN a signed webhook sample
    event = load_event(name)
    headers = lower(event["headers"])
    channel = channel_of(event)
    header, sign = SIGNATURES[channel]
    # WHEN its signature is recomputed over the exact body with the demo secret
    expected = sign(raw_body(event), SECRETS[demo.SECRET_REFS[channel].removeprefix("local:")])
    # THEN it matches, except for the deliberately bad sample
    if name in BAD_SIGNATURE:
        assert headers[header] != expected
    else:
        assert headers[header] == expected


@pytest.mark.parametrize("name", SIGNED)
def test_adapter_verifies_the_sample(name):
    # GIVEN a signed webhook sample and its channel's adapter
    event = load_event(name)
    channel = event["pathParameters"]["channel"]
    adapter = get_adapter(channel)
    raw = raw_body(event)
    payload = adapter.parse(raw)
    secret = SECRETS[demo.SECRET_REFS[channel].removeprefix("local:")]
    (account_id,) = adapter.account_ids(payload)
    # the connection the demo seeds for that account (with its options: callback URL, app key)
    seeded = {(c.channel.value, c.account_id): c for c in demo.demo_connections()}
    connection = seeded.get((channel, account_id))
    # WHEN the production check verifies it
    assert connection is not None, f"{channel} account {account_id} is not a demo connection"
    assert connection.secret_ref == demo.SECRET_REFS[channel]
    verified = adapter.verify(raw, lower(event["headers"]), secret, connection)
    # THEN it passes (the bad sample fails), for the account the demo seeds
    assert verified is (name not in BAD_SIGNATURE)
    assert adapter.commands(payload, {account_id: connection})


def test_meta_samples_are_sent_as_meta_sends_them():
    # GIVEN the Messenger, WhatsApp and Instagram samples
    bodies = {
        channel: [raw_body(load_event(n)) for n in SIGNED if channel_of(load_event(n)) == channel]
        for channel in META_CHANNELS
    }
    # WHEN their bytes are read
    # THEN they are ASCII, non-ASCII escaped as \uXXXX (what Meta signs)
    assert all(bodies.values())
    assert all(body.isascii() for group in bodies.values() for body in group)
    assert any(b"\\u0e02" in body for body in bodies["messenger"])
    assert any(b"\\u0e2a" in body for body in bodies["whatsapp"])


def test_handshake_sample_uses_the_demo_verify_token():
    # GIVEN the Messenger verification sample
    event = load_event("webhook_messenger_verify")
    # WHEN Messenger's handshake answers it with the demo token
    challenge = get_adapter("messenger").handshake(
        event["queryStringParameters"], SECRETS["meta-verify-token"]
    )
    # THEN the challenge is echoed
    assert challenge == event["queryStringParameters"]["hub.challenge"]


# ---------------------------------------------------------------------------- no drift
def test_committed_events_are_exactly_the_generated_ones():
    # GIVEN the generated samples
    generated = demo.sample_events()
    # WHEN compared with the committed files
    # THEN the same samples exist, byte for byte as `python -m local.demo events` writes them
    assert sorted(generated) == NAMES
    for name, event in generated.items():
        expected = json.dumps(event, indent=2, ensure_ascii=False) + "\n"
        assert (EVENTS / f"{name}.json").read_text() == expected, name


def test_committed_bodies_are_the_events_bodies():
    # GIVEN events/bodies/ (the exact signed bytes for curl --data-binary)
    bodies_dir = EVENTS / "bodies"
    posts = {n for n in NAMES if n.startswith("webhook_") and load_event(n)["httpMethod"] == "POST"}
    # WHEN compared with the events
    found = {p.stem for p in bodies_dir.glob("*.json")}
    # THEN there is one body per webhook POST, equal to its event's body
    assert found == posts
    for name in posts:
        assert (bodies_dir / f"{name}.json").read_bytes() == raw_body(load_event(name)), name


# ---------------------------------------------------------------------------- env.json
ENV_FILE = json.loads((EVENTS / "env.json").read_text())
TEMPLATE = load_template()


def declared_variables(function_id: str) -> set[str]:
    globals_env = TEMPLATE["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    resource = TEMPLATE["Resources"][function_id]
    own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return set(globals_env) | set(own)


def test_env_file_names_template_functions():
    # GIVEN sam local's --env-vars file
    # WHEN its sections are read
    functions = {
        name
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # THEN each names a function of the template
    assert set(ENV_FILE) - {"Parameters"} <= functions


@pytest.mark.parametrize("function_id", sorted(set(ENV_FILE) - {"Parameters"}))
def test_env_file_only_overrides_declared_variables(function_id):
    # GIVEN a function's section of events/env.json
    # WHEN compared with the variables the template declares for it
    undeclared = set(ENV_FILE[function_id]) - declared_variables(function_id)
    # THEN every one is declared (sam local ignores the others)
    assert undeclared == set()
