"""Product reviews: list, read, mark handled, convert to the buyer's chat ticket.

**Convert** opens (or joins) the ticket of the buyer's Shopee/Lazada *chat* conversation, so a
review and the buyer's messages end up on one ticket: the conversation is the one the chat
webhooks use, found by the buyer's chat customer id (Shopee: the order's ``buyer_user_id``, the
``from_id`` of their messages; Lazada: the order's chat ``session_id``), which ``BuyerLookup``
asks the channel for once (then kept on the review). ``join_or_open_ticket`` applies the ticket
rules under the conversation guard and writes the ticket → review link; the review → ticket link
is one conditional UpdateItem here (``attribute_not_exists(ticket_id)``). Of concurrent converts
exactly one links; the others answer the winner's ticket. A converted review answers its ticket
again (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ticketing.errors import NotFoundError, StorageUnavailableError, UnprocessableError
from ticketing.models.records import Ticket
from ticketing.models.reviews import Review, ReviewStatus
from ticketing.repository.base import Page
from ticketing.repository.reviews import ReviewChangedError, ReviewLinkedError, ReviewRepository
from ticketing.services.conversion import ConversionResult, join_or_open_ticket

SOURCE_KIND = "review"
MAX_ATTEMPTS = 8


class BuyerLookup(Protocol):
    """The buyer's customer id in the channel's chat for this review (None: cannot be known)."""

    def __call__(self, review: Review) -> str | None: ...


JoinOrOpen = Callable[..., ConversionResult]


@dataclass(frozen=True)
class Conversion:
    review: Review
    ticket: Ticket
    created: bool


def _not_found(review_id: str) -> NotFoundError:
    return NotFoundError("review not found", details={"review_id": review_id})


def list_reviews(
    reviews: ReviewRepository,
    workspace_id: str,
    *,
    status: ReviewStatus,
    rating: int | None,
    product_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Review]:
    return reviews.list_reviews(
        workspace_id,
        status=status,
        rating=rating,
        product_id=product_id,
        limit=limit,
        cursor=cursor,
    )


def get_review(reviews: ReviewRepository, workspace_id: str, review_id: str) -> Review:
    review = reviews.get_review(workspace_id, review_id)
    if review is None:
        raise _not_found(review_id)
    return review


def mark_handled(
    reviews: ReviewRepository, workspace_id: str, review_id: str, *, actor: str, now: datetime
) -> Review:
    """→ handled. Idempotent: a handled review is answered as it is (first handler kept)."""
    review = get_review(reviews, workspace_id, review_id)
    for _ in range(MAX_ATTEMPTS):
        if review.status is ReviewStatus.HANDLED:
            return review
        try:
            return reviews.mark_handled(review, actor=actor, now=now)
        except ReviewChangedError as changed:
            if changed.review is None:
                raise _not_found(review_id) from changed
            review = changed.review
    raise StorageUnavailableError("the review kept changing; retry later")


def _ticket(reviews: ReviewRepository, review: Review) -> Ticket:
    assert review.ticket_id is not None
    ticket = reviews.tickets.get_ticket(review.workspace_id, review.ticket_id)
    if ticket is None:  # a link is only written to an existing ticket; tickets are never deleted
        raise StorageUnavailableError(
            "the review's ticket is missing", details={"ticket_id": review.ticket_id}
        )
    return ticket


def convert_review(
    reviews: ReviewRepository,
    workspace_id: str,
    review_id: str,
    *,
    actor: str,
    now: datetime,
    lookup: BuyerLookup,
    join: JoinOrOpen = join_or_open_ticket,
) -> Conversion:
    review = get_review(reviews, workspace_id, review_id)
    if review.ticket_id:
        return Conversion(review, _ticket(reviews, review), created=False)

    buyer_chat_id = review.buyer_chat_id or lookup(review)
    if not buyer_chat_id:
        raise UnprocessableError(
            "the buyer's chat cannot be found for this review",
            details={
                "errors": [{"field": "order_id", "msg": "no chat buyer for the review's order"}],
                "review_id": review_id,
            },
        )
    result = join(
        reviews.tickets,
        workspace_id=workspace_id,
        channel=review.channel,
        account_id=review.account_id,
        customer_id=buyer_chat_id,
        display_name=review.buyer_name,
        source_kind=SOURCE_KIND,
        source_id=review.review_id,
        actor=actor,
        now=now,
    )
    for _ in range(MAX_ATTEMPTS):
        try:
            linked = reviews.link_ticket(
                review,
                ticket_id=result.ticket.ticket_id,
                buyer_chat_id=buyer_chat_id,
                actor=actor,
                now=now,
            )
            return Conversion(linked, result.ticket, created=result.created)
        except ReviewLinkedError as won:  # another convert linked it first: its ticket
            if (
                won.review.ticket_id == result.ticket.ticket_id
            ):  # the same ticket: ours if we made it
                return Conversion(won.review, result.ticket, created=result.created)
            return Conversion(won.review, _ticket(reviews, won.review), created=False)
        except ReviewChangedError as changed:  # marked handled meanwhile: link with that status
            if changed.review is None:
                raise _not_found(review_id) from changed
            review = changed.review
    raise StorageUnavailableError("the review kept changing; retry later")
