"""Helpers shared by tests: sample events, a Lambda context, unique channel accounts."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import demo

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """The same files `sam local invoke -e events/<name>.json` uses."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class Accounts:
    """A workspace of its own with a Messenger Page and a LINE bot connected (demo secrets)."""

    workspace_id: str
    page_id: str
    line_bot_id: str

    def messenger(self, *messaging: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        payload = demo.messenger_payload(*messaging, page_id=self.page_id)
        return demo.messenger_webhook_event(payload, secret)

    def messenger_message(
        self, mid: str, text: str, *, psid: str = "psid-1", ts: int = demo.T0
    ) -> dict[str, Any]:
        message: dict[str, Any] = demo.messenger_message(mid, text, psid=psid, ts=ts)
        message["recipient"]["id"] = self.page_id
        return message

    def line(self, *events: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        return demo.line_webhook_event(demo.line_payload(*events, bot_id=self.line_bot_id), secret)

    def claims(self, agent_id: str = "agent-1") -> dict[str, str]:
        return {"sub": agent_id, "custom:workspace_id": self.workspace_id}


def api_get(
    path: str,
    resource: str,
    *,
    claims: dict[str, str] | None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    return demo.api_event(
        "GET", resource, path, query=query, path_parameters=path_parameters, claims=claims
    )


class StreamTail:
    """Reads a DynamoDB Local table's stream onward from where it last stopped (new shards from
    their start), and hands the records to a stream consumer the way Lambda's event source
    mapping does: filtered, in order, in batches, as a DynamoDB Streams event."""

    def __init__(self, ddb_client: Any, table_name: str) -> None:
        import boto3

        self._streams = boto3.client(
            "dynamodbstreams",
            endpoint_url=ddb_client.meta.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self._arn = ddb_client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str | None] = {}
        for shard in self._shards():  # start at "now" for the shards that already exist
            self._iterators[shard] = self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard, ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _shards(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamArn": self._arn}
        while True:
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            shards += [s["ShardId"] for s in description["Shards"]]
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def read(self) -> list[dict[str, Any]]:
        """Every record written since the last read, as Lambda receives them."""
        records: list[dict[str, Any]] = []
        for shard in self._shards():
            if shard not in self._iterators:
                self._iterators[shard] = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[shard]
            while iterator:
                answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = answer.get("NextShardIterator")
                self._iterators[shard] = iterator
                if not answer["Records"]:
                    break
                for record in answer["Records"]:
                    change = dict(record["dynamodb"])
                    for image in ("NewImage", "OldImage", "Keys"):
                        if image in change:
                            change[image] = {k: _typed(v) for k, v in change[image].items()}
                    created = change.get("ApproximateCreationDateTime")
                    if created is not None and hasattr(created, "timestamp"):
                        change["ApproximateCreationDateTime"] = int(created.timestamp())
                    records.append({**record, "eventSource": "aws:dynamodb", "dynamodb": change})
        return records

    def feed(self, handler: Any, record_type: str, *, batch_size: int = 100) -> int:
        """Pass the new records of items of ``record_type`` to ``handler``; how many it got.
        Fails the test if the handler reports a failed record."""
        wanted = [
            r
            for r in self.read()
            if r["eventName"] in ("INSERT", "MODIFY")
            and r["dynamodb"].get("NewImage", {}).get("type", {}).get("S") == record_type
        ]
        for start in range(0, len(wanted), batch_size):
            answer = handler({"Records": wanted[start : start + batch_size]}, FakeLambdaContext())
            assert answer == {"batchItemFailures": []}, answer
        return len(wanted)


def _typed(value: dict[str, Any]) -> dict[str, Any]:
    """botocore's streams client parses an empty map attribute as ``{}``; Lambda's events carry
    ``{"M": {}}`` (as DynamoDB wrote it)."""
    if not value:
        return {"M": {}}
    if "M" in value:
        return {"M": {k: _typed(v) for k, v in value["M"].items()}}
    if "L" in value:
        return {"L": [_typed(v) for v in value["L"]]}
    return value
