"""DynamoDB access of comments, built from the ticket repository's client and table.

- A comment is created by a Put guarded by ``attribute_not_exists(pk)`` on a key derived from the
  channel's comment id: a redelivered webhook never stores it twice.
- Every later change (edit, removal, hide, conversion, the private-reply mark) writes the whole
  item guarded by ``version = :seen``: a concurrent change makes the write fail, and the service
  decides again on the fresh item (never a blind overwrite).
- Lists: gsi1 ``…#POST#<channel>#<account>#<post>#COMMENTS`` (a post's comments, oldest first),
  gsi2 ``…#COMMENTS#<status>`` (by status, newest first). Key conditions only; a status filter on
  a post's list is a FilterExpression on that one partition.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ticketing.models.comments import Comment, CommentStatus
from ticketing.repository import keys
from ticketing.repository.base import Page, TicketRepository
from ticketing.repository.dynamodb import (
    DynamoTicketRepository,
    Item,
    _condition_failed,
    _dump,
    _values,
    decode_cursor,
    encode_cursor,
    from_dynamo,
    to_dynamo,
)


class CommentStore:
    def __init__(self, repo: DynamoTicketRepository) -> None:
        self._repo = repo
        self._table = repo.table_name

    @classmethod
    def of(cls, repo: TicketRepository | DynamoTicketRepository) -> CommentStore:
        if not isinstance(repo, DynamoTicketRepository):
            raise TypeError("comments need the DynamoDB ticket repository")
        return cls(repo)

    def _item(self, comment: Comment) -> Item:
        return to_dynamo(
            {
                **keys.comment_key(comment.workspace_id, comment.comment_ref),
                **keys.comment_index(
                    comment.workspace_id,
                    comment.channel,
                    comment.account_id,
                    comment.post_id,
                    comment.status.value,
                    comment.created_at,
                    comment.comment_ref,
                ),
                "type": "comment",
                **_dump(comment),
            }
        )

    def create(self, comment: Comment) -> Comment | None:
        """Store a new comment; None when written, else the stored one (a redelivery)."""
        try:
            self._repo._call(
                "put_item",
                TableName=self._table,
                Item=self._item(comment),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            raw: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            if raw:
                return Comment.model_validate(from_dynamo(raw))
            stored = self.get(comment.workspace_id, comment.comment_ref)
            if stored is None:  # pragma: no cover - a created item is never deleted
                raise
            return stored
        return None

    def get(self, workspace_id: str, comment_ref: str) -> Comment | None:
        response = self._repo._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.comment_key(workspace_id, comment_ref)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return Comment.model_validate(from_dynamo(item)) if item else None

    def replace(self, comment: Comment, *, seen_version: int) -> bool:
        """Write the changed comment if nobody changed it since ``seen_version`` (its version is
        bumped); False when someone did."""
        updated = comment.model_copy(update={"version": seen_version + 1})
        try:
            self._repo._call(
                "put_item",
                TableName=self._table,
                Item=self._item(updated),
                ConditionExpression="version = :seen",
                ExpressionAttributeValues=_values({":seen": seen_version}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def list_by_post(
        self,
        workspace_id: str,
        channel: str,
        account_id: str,
        post_id: str,
        *,
        status: CommentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Comment]:
        partition = keys.post_comments_partition(workspace_id, channel, account_id, post_id)
        return self._query(keys.GSI1, partition, status, limit, cursor, forward=True)

    def list_by_status(
        self, workspace_id: str, status: CommentStatus, *, limit: int, cursor: str | None
    ) -> Page[Comment]:
        partition = keys.comment_status_partition(workspace_id, status.value)
        return self._query(keys.GSI2, partition, None, limit, cursor, forward=False)

    def _query(
        self,
        index: str,
        partition: str,
        status: CommentStatus | None,
        limit: int,
        cursor: str | None,
        *,
        forward: bool,
    ) -> Page[Comment]:
        pk_name = keys.INDEX_KEYS[index][0]
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": pk_name},
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        if status is not None:
            # only within the one post's partition: a page may hold fewer than ``limit`` items
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"][":status"] = {"S": status.value}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, index=index, partition=partition)
        response = self._repo._call("query", **kwargs)
        items = [Comment.model_validate(from_dynamo(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return Page(items=items, next_cursor=encode_cursor(last) if last else None)
