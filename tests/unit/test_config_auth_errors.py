"""Settings from the environment, the caller's principal, the error hierarchy and local secrets."""

import inspect
import json
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from ticketing import errors
from ticketing.auth import WORKSPACE_CLAIM, Principal, principal_from_claims
from ticketing.config import Settings, get_settings
from ticketing.errors import (
    ConfigurationError,
    ForbiddenError,
    TicketEngineError,
    UnauthorizedError,
)
from ticketing.models.responses import ErrorResponse
from ticketing.secrets import _local_provider, resolve_secret

SETTINGS_ENV = [field.alias for field in Settings.model_fields.values() if field.alias is not None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for Settings (none of its variables set) and fresh caches."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    _local_provider.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    _local_provider.cache_clear()


# ---------------------------------------------------------------------------- settings
def test_settings_defaults(env):
    # GIVEN only TABLE_NAME in the environment
    env.setenv("TABLE_NAME", "ticket-engine-dev")
    # WHEN settings are read
    settings = get_settings()
    # THEN everything else has its default
    assert settings.table_name == "ticket-engine-dev"
    assert settings.meta_app_id == "0"
    assert settings.meta_verify_token_ref is None
    assert settings.local_secrets_file is None
    assert settings.secrets_max_age_seconds == 300
    assert settings.connection_cache_seconds == 60
    assert settings.max_webhook_body_bytes > 0


def test_settings_from_environment(env):
    # GIVEN every variable set, plus unrelated ones
    values = {
        "TABLE_NAME": "t-prod",
        "META_APP_ID": "1517776481860111",
        "META_VERIFY_TOKEN_REF": "ssm:/ticket-engine/meta/verify-token",
        "LOCAL_SECRETS_FILE": "local/secrets.json",
        "SECRETS_MAX_AGE_SECONDS": "5",
        "CONNECTION_CACHE_SECONDS": "0",
        "MAX_WEBHOOK_BODY_BYTES": "2048",
        "SHOPEE_API_BASE_URL": "http://127.0.0.1:8081/shopee",
        "LAZADA_API_BASE_URL": "http://127.0.0.1:8081/lazada/rest",
        "META_GRAPH_BASE_URL": "http://127.0.0.1:8081/graph",  # outbound delivery (issue 8)
        "LINE_API_BASE_URL": "http://127.0.0.1:8081/line",
        "CHANNEL_API_TIMEOUT_SECONDS": "2.5",
        "OUTBOX_MAX_RECEIVES": "3",
        "POWERTOOLS_SERVICE_NAME": "ticket-engine",
    }
    for name, value in values.items():
        env.setenv(name, value)
    # WHEN settings are read
    settings = get_settings()
    # THEN each is parsed into its typed field
    assert settings.model_dump() == {
        "table_name": "t-prod",
        "meta_app_id": "1517776481860111",
        "meta_verify_token_ref": "ssm:/ticket-engine/meta/verify-token",
        "local_secrets_file": "local/secrets.json",
        "secrets_max_age_seconds": 5,
        "connection_cache_seconds": 0,
        "max_webhook_body_bytes": 2048,
        "shopee_api_base_url": "http://127.0.0.1:8081/shopee",
        "lazada_api_base_url": "http://127.0.0.1:8081/lazada/rest",
        "meta_graph_base_url": "http://127.0.0.1:8081/graph",
        "line_api_base_url": "http://127.0.0.1:8081/line",
        "channel_api_timeout_seconds": 2.5,
        "outbox_max_receives": 3,
    }


def test_table_name_is_required(env):
    # GIVEN no TABLE_NAME
    # WHEN settings are read
    # THEN they fail, naming the variable
    with pytest.raises(ValidationError, match="TABLE_NAME"):
        get_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TABLE_NAME", "ab"),
        ("SECRETS_MAX_AGE_SECONDS", "-1"),
        ("CONNECTION_CACHE_SECONDS", "soon"),
        ("MAX_WEBHOOK_BODY_BYTES", "0"),
    ],
)
def test_invalid_values_are_rejected(env, name, value):
    # GIVEN one invalid variable
    env.setenv("TABLE_NAME", "ticket-engine-dev")
    env.setenv(name, value)
    # WHEN settings are read
    # THEN they fail, naming it
    with pytest.raises(ValidationError, match=name):
        get_settings()


def test_settings_are_read_once(env):
    # GIVEN settings read once
    env.setenv("TABLE_NAME", "first")
    first = get_settings()
    # WHEN the environment changes afterwards
    env.setenv("TABLE_NAME", "second")
    # THEN the cached settings are kept until the cache is cleared
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().table_name == "second"


def test_settings_are_immutable(env):
    # GIVEN settings
    env.setenv("TABLE_NAME", "ticket-engine-dev")
    settings = get_settings()
    # WHEN a field is assigned
    # THEN it is refused
    with pytest.raises(ValidationError):
        settings.table_name = "other"  # type: ignore[misc]


# ---------------------------------------------------------------------------- auth
@pytest.mark.parametrize(
    "claims",
    [None, {}, {"sub": ""}, {WORKSPACE_CLAIM: "ws-1"}, {"sub": None, WORKSPACE_CLAIM: "ws-1"}],
    ids=["none", "empty", "empty-sub", "no-sub", "null-sub"],
)
def test_no_subject_is_401(claims):
    # GIVEN no authenticated subject
    # WHEN the principal is derived
    # THEN UnauthorizedError (401)
    with pytest.raises(UnauthorizedError) as info:
        principal_from_claims(claims)
    assert info.value.status_code == 401
    assert info.value.code == "unauthorized"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "agent-1"},
        {"sub": "agent-1", WORKSPACE_CLAIM: ""},
        {"sub": "agent-1", WORKSPACE_CLAIM: 42},
        {"sub": "agent-1", WORKSPACE_CLAIM: ["ws-1"]},
        {"sub": "agent-1", "workspace_id": "ws-1"},
    ],
    ids=["no-workspace", "empty-workspace", "number", "list", "wrong-claim-name"],
)
def test_subject_without_workspace_is_403(claims):
    # GIVEN an authenticated agent whose token names no workspace
    # WHEN the principal is derived
    # THEN ForbiddenError (403)
    with pytest.raises(ForbiddenError) as info:
        principal_from_claims(claims)
    assert info.value.status_code == 403


def test_good_claims_give_the_principal():
    # GIVEN Cognito claims with sub and the workspace claim
    claims = {"sub": "agent-1", WORKSPACE_CLAIM: "ws-1", "email": "a@example.com"}
    # WHEN the principal is derived
    # THEN it names the agent and the workspace
    assert principal_from_claims(claims) == Principal(agent_id="agent-1", workspace_id="ws-1")


# ---------------------------------------------------------------------------- errors
EXPECTED_ERRORS = {
    "TicketEngineError": (500, "internal_error"),
    "InvalidRequestError": (400, "invalid_request"),
    "MalformedPayloadError": (400, "malformed_payload"),
    "PayloadTooLargeError": (413, "payload_too_large"),
    "UnknownAccountError": (400, "unknown_account"),
    "UnsupportedChannelError": (404, "unsupported_channel"),
    "InvalidCursorError": (400, "invalid_cursor"),
    "UnauthorizedError": (401, "unauthorized"),
    "InvalidSignatureError": (401, "invalid_signature"),
    "ForbiddenError": (403, "forbidden"),
    "NotFoundError": (404, "not_found"),
    "ConflictError": (409, "conflict"),
    "UnprocessableError": (422, "validation_error"),
    "PreconditionFailedError": (412, "version_mismatch"),
    "StorageUnavailableError": (503, "storage_unavailable"),
    "ConfigurationError": (500, "configuration_error"),
    "PrivateReplyNotAllowedError": (409, "private_reply_not_allowed"),  # comments (issue #5)
    # outbound delivery (issue #8)
    "ChannelApiError": (502, "channel_api_error"),
    "ChannelApiTimeoutError": (504, "channel_timeout"),
    "ChannelApiConnectionError": (502, "channel_unreachable"),
    "ChannelApiRejectedError": (502, "channel_rejected"),
    "OutboundRuleError": (422, "channel_rule"),
    "TextTooLongError": (422, "text_too_long"),
    "MessagingWindowClosedError": (422, "messaging_window_closed"),
}
ERROR_CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, TicketEngineError) and cls.__module__ == errors.__name__
]


def test_error_table_is_complete():
    # GIVEN every exception errors.py defines
    # WHEN compared with the expected HTTP table
    found = {cls.__name__: (cls.status_code, cls.code) for cls in ERROR_CLASSES}
    # THEN each has the expected status and code, and codes are unique
    assert found == EXPECTED_ERRORS
    assert len({code for _, code in found.values()}) == len(found)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_body_shape(cls):
    # GIVEN an error with and without details
    bare = cls("went wrong")
    detailed = cls("went wrong", details={"field": "status", "n": 1})
    # WHEN rendered
    # THEN the body is {"error": {"code", "message", "details"}} and matches ErrorResponse
    assert bare.to_body() == {"error": {"code": cls.code, "message": "went wrong", "details": {}}}
    assert detailed.to_body()["error"]["details"] == {"field": "status", "n": 1}
    assert ErrorResponse.model_validate(detailed.to_body()).error.code == cls.code
    assert str(bare) == "went wrong"
    assert json.loads(json.dumps(detailed.to_body())) == detailed.to_body()


def test_signature_errors_are_unauthorized():
    # GIVEN the hierarchy
    # WHEN checked
    # THEN handlers catching the parent also catch the specific errors
    assert issubclass(errors.InvalidSignatureError, UnauthorizedError)
    assert issubclass(errors.MalformedPayloadError, errors.InvalidRequestError)
    assert issubclass(errors.InvalidCursorError, errors.InvalidRequestError)


# ---------------------------------------------------------------------------- local secrets
@pytest.fixture
def secrets_file(env, tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"line-channel-secret": "s3cr3t", "not-a-string": 42}))
    env.setenv("TABLE_NAME", "ticket-engine-test")
    env.setenv("LOCAL_SECRETS_FILE", str(path))
    get_settings.cache_clear()
    return path


def test_local_secret_is_resolved(secrets_file):
    # GIVEN a local secrets file with the secret
    # WHEN its reference is resolved
    # THEN the value comes back
    assert resolve_secret("local:line-channel-secret") == "s3cr3t"


@pytest.mark.parametrize("name", ["missing", "not-a-string"])
def test_undefined_local_secret_is_configuration_error(secrets_file, name):
    # GIVEN a name the file does not define as a string
    # WHEN resolved
    # THEN ConfigurationError (not the secret store's wrapper)
    with pytest.raises(ConfigurationError, match=name):
        resolve_secret(f"local:{name}")


def test_unreadable_secrets_file_is_configuration_error(secrets_file):
    # GIVEN a secrets file that is not JSON
    secrets_file.write_text("{not json")
    # WHEN a secret is resolved
    # THEN ConfigurationError
    with pytest.raises(ConfigurationError, match="unreadable"):
        resolve_secret("local:line-channel-secret")


def test_secrets_file_must_hold_an_object(secrets_file):
    # GIVEN a secrets file holding a JSON list
    secrets_file.write_text('["s3cr3t"]')
    # WHEN a secret is resolved
    # THEN ConfigurationError
    with pytest.raises(ConfigurationError, match="JSON object"):
        resolve_secret("local:line-channel-secret")


def test_local_secret_without_file_is_configuration_error(env):
    # GIVEN no LOCAL_SECRETS_FILE
    env.setenv("TABLE_NAME", "ticket-engine-test")
    # WHEN a local secret is resolved
    # THEN ConfigurationError
    with pytest.raises(ConfigurationError, match="LOCAL_SECRETS_FILE"):
        resolve_secret("local:line-channel-secret")


@pytest.mark.parametrize("ref", ["vault:line", "file:/etc/passwd", "LOCAL:line-channel-secret"])
def test_unknown_scheme_is_configuration_error(secrets_file, ref):
    # GIVEN a reference to a store we do not know
    # WHEN resolved
    # THEN ConfigurationError naming the scheme
    with pytest.raises(ConfigurationError) as info:
        resolve_secret(ref)
    assert info.value.details == {"scheme": ref.partition(":")[0]}


@pytest.mark.parametrize("ref", ["line-channel-secret", "local:", ""])
def test_malformed_reference_is_configuration_error(secrets_file, ref):
    # GIVEN a reference without scheme:name
    # WHEN resolved
    # THEN ConfigurationError
    with pytest.raises(ConfigurationError, match="scheme:name"):
        resolve_secret(ref)


@pytest.mark.parametrize(
    ("groups", "is_admin"),
    [
        ("admin", True),
        ("[admin, agents]", True),
        ('["agents","admin"]', True),
        (["admin"], True),
        ("agents", False),
        ("[administrators]", False),
        (None, False),
    ],
)
def test_admin_group_is_read_from_cognito_groups_in_every_rendering(groups, is_admin):
    # GIVEN claims whose cognito:groups is rendered as API Gateway or another integration would
    claims = {"sub": "a-1", "custom:workspace_id": "ws-1"}
    if groups is not None:
        claims["cognito:groups"] = groups
    # WHEN the caller is read from them
    who = principal_from_claims(claims)
    # THEN only membership of exactly "admin" makes a workspace admin
    assert who.is_admin is is_admin
