"""DynamoDB access for product reviews and their pull cursors (keys: repository/keys.py).

- Storing a review is a Put guarded by ``attribute_not_exists(pk)`` on a key derived from the
  channel's review id: re-pulling a page stores nothing twice.
- Linking a review to a ticket is one UpdateItem guarded by ``attribute_not_exists(ticket_id)``
  (and the status the caller saw): of concurrent converts exactly one links, the others get the
  winner's ``ticket_id`` back from ``ALL_OLD`` without a re-read.
- Every list is a Query on gsi2 (status) or gsi1 (status + product), rating by ``begins_with``.
- The pull cursor of a shop is version-guarded, so two overlapping pulls never move it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ticketing.models.records import Channel, ChannelConnection
from ticketing.models.reviews import PullCursor, Review, ReviewStatus
from ticketing.repository import keys
from ticketing.repository.base import Page
from ticketing.repository.dynamodb import (
    DynamoTicketRepository,
    from_dynamo,
    get_repository,
    to_dynamo,
)


def _stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _old_item(exc: ClientError) -> dict[str, Any] | None:
    item: Any = exc.response.get("Item")
    return from_dynamo(item) if isinstance(item, dict) else None


class ReviewLinkedError(Exception):
    """The review is already linked to a ticket (``review`` is the stored one)."""

    def __init__(self, review: Review) -> None:
        super().__init__(review.ticket_id)
        self.review = review


class ReviewChangedError(Exception):
    """The review changed since it was read (``review`` is the stored one; None: gone)."""

    def __init__(self, review: Review | None) -> None:
        super().__init__("review changed")
        self.review = review


class ReviewRepository:
    """Reviews on the ticket table, through the ticket repository's client and helpers."""

    def __init__(self, tickets: DynamoTicketRepository) -> None:
        self.tickets = tickets
        self._table = tickets.table_name

    # ------------------------------------------------------------------ reviews
    def _item(self, review: Review) -> dict[str, Any]:
        return to_dynamo(
            {
                **keys.review_key(review.workspace_id, review.review_id),
                **self._index(review, review.status),
                "type": "review",
                **review.model_dump(mode="json", exclude_none=True),
            }
        )

    @staticmethod
    def _index(review: Review, status: ReviewStatus) -> dict[str, str]:
        return keys.review_index(
            review.workspace_id,
            review.review_id,
            status=status.value,
            rating=review.rating,
            product_id=review.product_id,
            created_at=review.created_at,
        )

    def store_review(self, review: Review) -> bool:
        """True when stored, False when the review was stored before (nothing written)."""
        try:
            self.tickets._call(
                "put_item",
                TableName=self._table,
                Item=self._item(review),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def stored_ids(self, workspace_id: str, review_ids: list[str]) -> set[str]:
        """Which of these reviews are stored already: one BatchGetItem per 100 (eventually
        consistent; the guarded Put stays the dedupe). A re-pulled page then writes nothing."""
        if not review_ids:
            return set()
        found = self.tickets._batch_get([keys.review_key(workspace_id, r) for r in review_ids])
        return {r for r in review_ids if keys.review_key(workspace_id, r)[keys.PK] in found}

    def get_review(self, workspace_id: str, review_id: str) -> Review | None:
        response = self.tickets._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.review_key(workspace_id, review_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return Review.model_validate(from_dynamo(item)) if item else None

    def list_reviews(
        self,
        workspace_id: str,
        *,
        status: ReviewStatus,
        rating: int | None,
        product_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Review]:
        """Lowest rating first, newest first within a rating; one Query, no filter."""
        if product_id is not None:
            index = keys.GSI1
            partition = keys.reviews_product_partition(workspace_id, status.value, product_id)
        else:
            index = keys.GSI2
            partition = keys.reviews_status_partition(workspace_id, status.value)
        return self.tickets._query_page(
            Review,
            index=index,
            partition=partition,
            limit=limit,
            cursor=cursor,
            forward=True,
            sk_prefix=keys.review_rating_prefix(rating) if rating is not None else None,
        )

    def _update(
        self,
        review: Review,
        sets: dict[str, Any],
        condition: str,
        values: dict[str, Any],
    ) -> Review:
        """SET ``sets`` (+ version) if ``condition`` holds; on failure raise ReviewChangedError
        with the stored review (ALL_OLD, no re-read)."""
        names = {f"#f{i}": k for i, k in enumerate(sets)}
        expression = ", ".join(f"#f{i} = :v{i}" for i in range(len(sets)))
        bound = {f":v{i}": v for i, v in enumerate(sets.values())} | values | {":one": 1}
        try:
            response = self.tickets._call(
                "update_item",
                TableName=self._table,
                Key=to_dynamo(keys.review_key(review.workspace_id, review.review_id)),
                UpdateExpression=f"SET {expression}, version = version + :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues=to_dynamo(bound),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                old = _old_item(exc)
                raise ReviewChangedError(Review.model_validate(old) if old else None) from exc
            raise
        return Review.model_validate(from_dynamo(response["Attributes"]))

    def mark_handled(self, review: Review, *, actor: str, now: datetime) -> Review:
        """``review.status`` (as read) → handled, moving both index entries."""
        return self._update(
            review,
            {
                "status": ReviewStatus.HANDLED.value,
                "handled_at": _stamp(now),
                "handled_by": actor,
                **self._index(review, ReviewStatus.HANDLED),
            },
            "#status = :seen AND version = :seen_version",
            {":seen": review.status.value, ":seen_version": review.version},
        )

    def link_ticket(
        self,
        review: Review,
        *,
        ticket_id: str,
        buyer_chat_id: str,
        actor: str,
        now: datetime,
    ) -> Review:
        """Link the review to its ticket, once. Raises ReviewLinkedError (another convert won:
        its ticket) or ReviewChangedError (the status moved: decide again)."""
        status = ReviewStatus.CONVERTED if review.status is ReviewStatus.NEW else review.status
        try:
            return self._update(
                review,
                {
                    "ticket_id": ticket_id,
                    "buyer_chat_id": buyer_chat_id,
                    "converted_at": _stamp(now),
                    "converted_by": actor,
                    "status": status.value,
                    **self._index(review, status),
                },
                "attribute_not_exists(ticket_id) AND #status = :seen",
                {":seen": review.status.value},
            )
        except ReviewChangedError as exc:
            if exc.review is not None and exc.review.ticket_id:
                raise ReviewLinkedError(exc.review) from exc
            raise

    # ------------------------------------------------------------------ pull
    def channel_connections(self, channel: Channel) -> list[ChannelConnection]:
        """Every connection of ``channel``, all workspaces: Query gsi2 ``CONNECTIONS#<channel>``."""
        found: list[ChannelConnection] = []
        cursor: str | None = None
        while True:
            page = self.tickets._query_page(
                ChannelConnection,
                index=keys.GSI2,
                partition=keys.channel_connections_partition(channel),
                limit=100,
                cursor=cursor,
                forward=True,
            )
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def get_cursor(self, channel: Channel, account_id: str) -> PullCursor:
        response = self.tickets._call(
            "get_item",
            TableName=self._table,
            Key=to_dynamo(keys.review_pull_cursor_key(channel, account_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return PullCursor(channel=channel, account_id=account_id)
        return PullCursor.model_validate(from_dynamo(item))

    def save_cursor(self, cursor: PullCursor, *, now: datetime) -> PullCursor | None:
        """Store the cursor if nobody moved it since it was read (its ``version``); the saved
        cursor, or None when another pull moved it first."""
        saved = cursor.model_copy(update={"version": cursor.version + 1, "updated_at": now})
        condition = "attribute_not_exists(pk)" if cursor.version == 0 else "version = :seen"
        extra: dict[str, Any] = {}
        if cursor.version:
            extra["ExpressionAttributeValues"] = to_dynamo({":seen": cursor.version})
        try:
            self.tickets._call(
                "put_item",
                TableName=self._table,
                Item=to_dynamo(
                    {
                        **keys.review_pull_cursor_key(cursor.channel, cursor.account_id),
                        "type": "review_pull_cursor",
                        **saved.model_dump(mode="json", exclude_none=True),
                    }
                ),
                ConditionExpression=condition,
                **extra,
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return saved


def get_review_repository() -> ReviewRepository:
    """Over the (cached) ticket repository: nothing of its own to cache."""
    return ReviewRepository(get_repository())
