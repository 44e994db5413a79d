"""A DynamoDB Local table's stream, read the way Lambda's event source mapping reads it.

Used where the inbox lists must have caught up with the tickets (tests, the benchmark): it feeds
the stream's records to the real view projector (``functions/ticket_views``). ``make run`` does
the same continuously through ``local.plumbing``.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client_for(service: str, endpoint_url: str) -> Any:
    """One client per service and endpoint (boto3 clients are thread-safe; building one costs
    tens of milliseconds)."""
    import boto3

    return boto3.client(  # type: ignore[call-overload]  # service is a runtime name here
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local
    )


_ARNS: dict[tuple[str, str], str] = {}


def _stream_arn(ddb_client: Any, table_name: str) -> str:
    """The table's stream, looked up once per endpoint and table name. A table deleted and made
    again under the same name would get a new stream: the tests that follow lists name their
    tables uniquely."""
    key = (ddb_client.meta.endpoint_url, table_name)
    if key not in _ARNS:
        _ARNS[key] = ddb_client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    return _ARNS[key]


class _Context:
    function_name = "local-stream-tail"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:local-stream-tail"
    aws_request_id = "local-stream-tail"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


class StreamTail:
    """Reads a DynamoDB Local table's stream onward from where it last stopped (new shards from
    their start), and hands the records to a stream consumer the way Lambda's event source
    mapping does: filtered, in order, in batches, as a DynamoDB Streams event."""

    def __init__(self, ddb_client: Any, table_name: str, *, from_start: bool = False) -> None:
        """Reads from now on, or (``from_start``) every record the stream still holds."""
        self._streams = client_for("dynamodbstreams", ddb_client.meta.endpoint_url)
        self._arn = _stream_arn(ddb_client, table_name)
        self._iterators: dict[str, str | None] = {}
        if from_start:
            return  # every shard is read from its start (TRIM_HORIZON)
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
                try:
                    answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                except self._streams.exceptions.TrimmedDataAccessException:
                    # DynamoDB Local can refuse an iterator of a shard it has since trimmed;
                    # one fresh TRIM_HORIZON iterator reads what the shard still holds
                    iterator = self._streams.get_shard_iterator(
                        StreamArn=self._arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
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
            answer = handler({"Records": wanted[start : start + batch_size]}, _Context())
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


class ViewFollower:
    """Brings the inbox lists up to date on demand: ``catch_up()`` applies the ticket records
    written since the follower was made (or since the last call) with the view projector's own
    service (``services.views.project``), on the given client and table."""

    def __init__(self, ddb_client: Any, table_name: str, *, from_start: bool = False) -> None:
        import threading

        from ticketing.repository.dynamodb import DynamoTicketRepository

        # its own client: a test metering ``ddb_client`` does not count the projector's writes
        own_client = client_for("dynamodb", ddb_client.meta.endpoint_url)
        self._tail = StreamTail(own_client, table_name, from_start=from_start)
        self._repo = DynamoTicketRepository(own_client, table_name)
        self._lock = threading.Lock()

    def _apply(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        """Each ticket's records in one go: the first record's old image against the last one's
        new image (the entries' end state is the same as applying them one by one — every write
        is guarded by the sequence number), tickets in parallel."""
        from concurrent.futures import ThreadPoolExecutor

        from ticketing.services import views

        by_ticket: dict[str, tuple[Any, dict[str, Any]]] = {}
        for record in event["Records"]:
            change = record["dynamodb"]
            key = change["NewImage"]["pk"]["S"]
            first_old = by_ticket[key][0] if key in by_ticket else change.get("OldImage")
            by_ticket[key] = (first_old, change)

        def apply(old: Any, change: dict[str, Any]) -> None:
            views.project(
                self._repo,
                new_image=change["NewImage"],
                old_image=old,
                sequence_number=change["SequenceNumber"],
            )

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda pair: apply(*pair), by_ticket.values()))
        return {"batchItemFailures": []}

    def catch_up(self) -> int:
        with self._lock:
            return self._tail.feed(self._apply, "ticket", batch_size=100_000)
