"""Fixtures shared by every test folder."""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.dynamodb_local import DynamoDBLocal

# Powertools reads these when Logger/Metrics are constructed (at handler import, as in Lambda,
# where the environment exists before the code loads): set them before any test imports a handler.
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "ticket-engine-test",
    "POWERTOOLS_METRICS_NAMESPACE": "TicketEngineTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def pytest_configure(config: pytest.Config) -> None:
    for key, value in POWERTOOLS_ENV.items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """One DynamoDB Local for the whole session (in memory; its JVM is killed at the end).

    Tests get their own table or ids; nothing global (env, clients) is set here.
    The jar comes from node_modules, or from $DYNAMODB_LOCAL_JAR.
    """
    with DynamoDBLocal() as db:
        yield db.endpoint


# ---------------------------------------------------------------------------- domain fixtures
@pytest.fixture(scope="session")
def ddb_client(dynamodb_local: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_local,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture(scope="session")
def table_name(ddb_client: Any) -> str:
    """The table, created from template.yaml's own definition (no second copy of the schema)."""
    from local.template import create_tables, load_template

    name = "ticket-engine-test"
    create_tables(ddb_client, load_template(), {"TicketTable": name})
    return name


@pytest.fixture
def repo(ddb_client: Any, table_name: str) -> Any:
    from ticketing.repository.dynamodb import DynamoTicketRepository

    return DynamoTicketRepository(ddb_client, table_name)


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, dynamodb_local: str, table_name: str
) -> Iterator[None]:
    """The environment the handlers see in AWS, pointed at DynamoDB Local; caches reset."""
    from local import demo

    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": table_name,
        "LOCAL_SECRETS_FILE": str(demo.SECRETS_FILE),
        "META_VERIFY_TOKEN_REF": demo.SECRET_REFS["meta_verify_token"],
        "META_APP_ID": "1517776481860111",
        **POWERTOOLS_ENV,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    from ticketing.config import get_settings
    from ticketing.repository.dynamodb import dynamodb_client, get_repository

    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    get_repository.cache_clear()
    try:
        from functions.webhook_ingest.app import connections
    except ImportError:
        return
    connections.cache_clear()


@pytest.fixture
def accounts(app_env: None, repo: Any) -> Any:
    """A fresh workspace with its own Messenger Page and LINE bot (signed with demo secrets)."""
    from local import demo
    from tests.helpers import Accounts, unique
    from ticketing.models import Channel, ChannelConnection, WorkspaceSettings

    acc = Accounts(workspace_id=unique("ws-"), page_id=unique("page-"), line_bot_id=unique("Ubot"))
    repo.put_workspace(WorkspaceSettings(workspace_id=acc.workspace_id, name="Test shop"))
    for channel, account_id, ref in (
        (Channel.MESSENGER, acc.page_id, demo.SECRET_REFS["messenger"]),
        (Channel.LINE, acc.line_bot_id, demo.SECRET_REFS["line"]),
    ):
        repo.put_connection(
            ChannelConnection(
                channel=channel,
                account_id=account_id,
                workspace_id=acc.workspace_id,
                secret_ref=ref,
            )
        )
    return acc


@pytest.fixture
def project_views(ddb_client: Any, table_name: str, app_env: None) -> Any:
    """``project_views()`` brings the inbox lists (status lists and views, README "Inbox views")
    up to date: it feeds the ticket records the table's stream got since the last call (or since
    the test began) to the real view projector, as Lambda's event source mapping would. Lists
    are read from the projector's entries, so a test lists after projecting. Returns how many
    ticket records it fed."""
    from functions.ticket_views.app import lambda_handler as projector
    from tests.helpers import StreamTail

    tail = StreamTail(ddb_client, table_name)
    return lambda: tail.feed(projector, "ticket")
