"""Fixtures shared by every test folder."""

from collections.abc import Iterator

import pytest

from local.dynamodb_local import DynamoDBLocal


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    """The endpoint of one DynamoDB Local for the whole session (in memory; its JVM is killed at the end).

    Tests get their own table or ids; nothing global (env, clients) is set here.
    The jar comes from node_modules, or from $DYNAMODB_LOCAL_JAR.
    """
    with DynamoDBLocal() as db:
        yield db.endpoint
