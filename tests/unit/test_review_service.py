"""services.reviews over a stub store: the decisions after each guarded write's outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ticketing.errors import NotFoundError, UnprocessableError
from ticketing.models.records import Channel, Ticket, TicketStatus
from ticketing.models.reviews import Review, ReviewStatus
from ticketing.repository.reviews import ReviewChangedError, ReviewLinkedError
from ticketing.services import reviews as service
from ticketing.services.conversion import ConversionResult

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
WS = "ws-1"


def ticket(ticket_id: str) -> Ticket:
    return Ticket(
        workspace_id=WS,
        ticket_id=ticket_id,
        number=1,
        conversation_id="cv-1",
        contact_id="ct-1",
        channel=Channel.SHOPEE,
        account_id="880000001",
        status=TicketStatus.OPEN,
        created_at=NOW,
        last_activity_at=NOW,
    )


def review(**changes: Any) -> Review:
    base = Review(
        workspace_id=WS,
        review_id="rv_1",
        channel=Channel.SHOPEE,
        account_id="880000001",
        channel_review_id="1",
        rating=1,
        text="bad",
        product_id="p-1",
        order_id="o-1",
        created_at=NOW,
        fetched_at=NOW,
    )
    return base.model_copy(update=changes)


class StubTickets:
    def __init__(self, *tickets: Ticket) -> None:
        self.tickets = {t.ticket_id: t for t in tickets}

    def get_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)


class StubReviews:
    """Answers reads from ``stored``; each write pops its next outcome (an exception or None =
    succeed)."""

    def __init__(self, stored: Review | None, outcomes: list[Exception | None], *tickets: Ticket):
        self.stored = stored
        self.outcomes = outcomes
        self.tickets = StubTickets(*tickets)
        self.writes: list[tuple[str, Review, dict[str, Any]]] = []

    def get_review(self, workspace_id: str, review_id: str) -> Review | None:
        return self.stored

    def _write(self, name: str, seen: Review, update: dict[str, Any]) -> Review:
        self.writes.append((name, seen, update))
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return seen.model_copy(update={**update, "version": seen.version + 1})

    def link_ticket(self, seen: Review, *, ticket_id: str, buyer_chat_id: str, **kw: Any) -> Review:
        return self._write("link", seen, {"ticket_id": ticket_id, "buyer_chat_id": buyer_chat_id})

    def mark_handled(self, seen: Review, *, actor: str, now: datetime) -> Review:
        return self._write("handled", seen, {"status": ReviewStatus.HANDLED, "handled_by": actor})


class Join:
    def __init__(self, result: ConversionResult) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def __call__(self, repo: Any, **kwargs: Any) -> ConversionResult:
        self.calls.append(kwargs)
        return self.result


def convert(stub: StubReviews, join: Join, lookup: Any = lambda r: "770001") -> Any:
    return service.convert_review(
        stub,  # type: ignore[arg-type]
        WS,
        "rv_1",
        actor="agent-1",
        now=NOW,
        lookup=lookup,
        join=join,
    )


def test_convert_joins_the_buyer_s_chat_conversation_and_links_once():
    # GIVEN a new review whose buyer's chat id the channel knows
    stub = StubReviews(review(), [None])
    join = Join(ConversionResult(ticket("t-1"), created=True))
    # WHEN converted
    done = convert(stub, join)
    # THEN the conversion is asked for that buyer's chat on the shop, as a review source
    (call,) = join.calls
    assert call["channel"] is Channel.SHOPEE
    assert (call["account_id"], call["customer_id"]) == ("880000001", "770001")
    assert (call["source_kind"], call["source_id"]) == ("review", "rv_1")
    # and the review is linked to its ticket with the buyer's chat id kept
    assert [w[0] for w in stub.writes] == ["link"]
    assert done.review.ticket_id == "t-1"
    assert done.review.buyer_chat_id == "770001"
    assert done.created is True


def test_a_lost_link_race_answers_the_winner_s_ticket():
    # GIVEN a convert whose link write finds the review linked to another ticket meanwhile
    winner = review(ticket_id="t-win", status=ReviewStatus.CONVERTED, version=2)
    stub = StubReviews(review(), [ReviewLinkedError(winner)], ticket("t-win"))
    join = Join(ConversionResult(ticket("t-mine"), created=False))
    # WHEN converted
    done = convert(stub, join)
    # THEN the answer is the winner's review and ticket, and nothing else is written
    assert done.ticket.ticket_id == "t-win"
    assert done.review == winner
    assert done.created is False
    assert len(stub.writes) == 1


def test_a_review_handled_meanwhile_is_linked_with_its_new_status():
    # GIVEN a link write refused because the review was marked handled meanwhile
    handled = review(status=ReviewStatus.HANDLED, version=2)
    stub = StubReviews(review(), [ReviewChangedError(handled), None])
    join = Join(ConversionResult(ticket("t-1"), created=True))
    # WHEN converted
    done = convert(stub, join)
    # THEN the link is written again against the fresh review (its status kept)
    assert [w[1].status for w in stub.writes] == [ReviewStatus.NEW, ReviewStatus.HANDLED]
    assert done.review.ticket_id == "t-1"
    assert done.review.status is ReviewStatus.HANDLED
    assert len(join.calls) == 1  # the ticket part is not redone


def test_a_linked_review_answers_its_ticket_without_asking_anyone():
    # GIVEN a review already converted
    stub = StubReviews(review(ticket_id="t-1", buyer_chat_id="770001"), [], ticket("t-1"))
    join = Join(ConversionResult(ticket("t-other"), created=True))

    def lookup(r: Review) -> str:
        raise AssertionError("the channel must not be asked again")

    # WHEN converted again
    done = convert(stub, join, lookup)
    # THEN its ticket, no conversion, no write
    assert done.ticket.ticket_id == "t-1"
    assert done.created is False
    assert join.calls == []
    assert stub.writes == []


def test_no_chat_buyer_is_422_and_nothing_is_opened():
    # GIVEN a review whose buyer the channel cannot name
    stub = StubReviews(review(order_id=None), [])
    join = Join(ConversionResult(ticket("t-1"), created=True))
    # WHEN converted / THEN 422, no conversion, no write
    with pytest.raises(UnprocessableError):
        convert(stub, join, lambda r: None)
    assert join.calls == []
    assert stub.writes == []


def test_a_missing_review_is_404():
    with pytest.raises(NotFoundError):
        convert(StubReviews(None, []), Join(ConversionResult(ticket("t"), created=True)))


def test_mark_handled_retries_on_a_change_and_is_idempotent():
    # GIVEN a review converted between the read and the write
    converted = review(status=ReviewStatus.CONVERTED, ticket_id="t-1", version=2)
    stub = StubReviews(review(), [ReviewChangedError(converted), None])
    # WHEN marked handled
    done = service.mark_handled(stub, WS, "rv_1", actor="a-1", now=NOW)  # type: ignore[arg-type]
    # THEN the write is retried on the fresh review, keeping its ticket
    assert [w[1].version for w in stub.writes] == [1, 2]
    assert done.status is ReviewStatus.HANDLED
    assert done.ticket_id == "t-1"
    # and a handled review is answered without a write
    handled = StubReviews(review(status=ReviewStatus.HANDLED, handled_by="a-0"), [])
    again = service.mark_handled(handled, WS, "rv_1", actor="a-1", now=NOW)  # type: ignore[arg-type]
    assert again.handled_by == "a-0"
    assert handled.writes == []


# ---------------------------------------------------------------------------- pull_all
class StubPullStore:
    """Connections by channel, cursors in memory, stored reviews by id."""

    def __init__(self, connections: list[Any]) -> None:
        self.connections = connections
        self.cursors: dict[tuple[str, str], Any] = {}
        self.reviews: dict[str, Review] = {}

    def channel_connections(self, channel: Channel) -> list[Any]:
        return [c for c in self.connections if c.channel is channel]

    def get_cursor(self, channel: Channel, account_id: str) -> Any:
        from ticketing.models.reviews import PullCursor

        found = self.cursors.get((channel.value, account_id))
        return found or PullCursor(channel=channel, account_id=account_id)

    def save_cursor(self, cursor: Any, *, now: datetime) -> Any:
        saved = cursor.model_copy(update={"version": cursor.version + 1})
        self.cursors[(cursor.channel.value, cursor.account_id)] = saved
        return saved

    def stored_ids(self, workspace_id: str, review_ids: list[str]) -> set[str]:
        return set(review_ids) & set(self.reviews)

    def store_review(self, stored: Review) -> bool:
        return self.reviews.setdefault(stored.review_id, stored) is stored


class OnePageSource:
    def __init__(self, account_id: str, fail: bool = False) -> None:
        self.account_id = account_id
        self.fail = fail

    def next_page(self, state: dict[str, Any], now: datetime) -> Any:
        from ticketing.channels.reviews import ReviewPage
        from ticketing.errors import ChannelApiError
        from ticketing.models.reviews import ReviewRecord
        from ticketing.services.review_pull import SourcePage

        if self.fail:
            raise ChannelApiError("shop down")
        record = ReviewRecord(
            channel=Channel.SHOPEE,
            account_id=self.account_id,
            channel_review_id="1",
            rating=3,
            product_id="p",
            created_at=NOW,
        )
        return SourcePage(ReviewPage(records=[record]), {"cursor": ""}, done=True)


def shops(*ids: str, disconnected: tuple[str, ...] = ()) -> list[Any]:
    from ticketing.models.records import ChannelConnection, ConnectionStatus

    return [
        ChannelConnection(
            channel=Channel.SHOPEE,
            account_id=i,
            workspace_id=WS,
            secret_ref="local:x",
            status=ConnectionStatus.DISCONNECTED if i in disconnected else ConnectionStatus.ACTIVE,
        )
        for i in ids
    ]


def test_pull_all_isolates_a_failing_shop_and_skips_disconnected_ones():
    from ticketing.services.review_pull import pull_all

    # GIVEN three active shops (the second one's channel fails) and a disconnected one
    store = StubPullStore(shops("s1", "s2", "s3", "s4", disconnected=("s4",)))
    # WHEN every shop is pulled
    stats = pull_all(
        store,  # type: ignore[arg-type]
        lambda c: OnePageSource(c.account_id, fail=c.account_id == "s2"),
        now=NOW,
        time_left_ms=lambda: 60_000,
    )
    # THEN the others' reviews are stored; the failure is reported, the disconnected never pulled
    assert stats.failed_shops == ["shopee:s2"]
    assert (stats.shops, stats.stored) == (3, 2)
    assert {r.account_id for r in store.reviews.values()} == {"s1", "s3"}
    assert ("shopee", "s4") not in store.cursors


def test_pull_all_stops_in_time_and_starts_elsewhere_next_run():
    from datetime import timedelta

    from ticketing.services.review_pull import pull_all

    # GIVEN three shops and runs with time for one shop only
    store = StubPullStore(shops("s1", "s2", "s3"))
    budgets = iter([60_000, 60_000, 0, 0, 0])
    # WHEN one run pulls, then another a quarter hour later
    first = pull_all(
        store,  # type: ignore[arg-type]
        lambda c: OnePageSource(c.account_id),
        now=NOW,
        time_left_ms=lambda: next(budgets),
    )
    budgets = iter([60_000, 60_000, 0, 0, 0])
    second = pull_all(
        store,  # type: ignore[arg-type]
        lambda c: OnePageSource(c.account_id),
        now=NOW + timedelta(minutes=15),
        time_left_ms=lambda: next(budgets),
    )
    # THEN each run pulls one shop and lists the others as unfinished, and the second run
    # starts with another shop than the first
    assert first.shops == second.shops == 1
    assert len(first.unfinished_shops) == len(second.unfinished_shops) == 2
    assert len(store.reviews) == 2
