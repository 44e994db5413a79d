"""Exact DynamoDB cost of the review operations, pinned (DynamoDB Local, ``bench.meter``).

Each call: (operation, items or keys, read units, write units, units by table/index). A review
item has entries in gsi1 (status + product) and gsi2 (status), so storing one writes 3 units and a
status change (handled, converted) moves both index keys: delete + put on each (5 units). A
duplicate's guarded Put writes nothing here (on AWS a failed condition still costs 1 WCU).
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.meter import CapacityMeter
from tests.helpers import unique
from tests.integration.test_capacity import calls
from tests.integration.test_reviews import NOW, record, shop_connection
from ticketing.channels.reviews import ReviewPage
from ticketing.models import WorkspaceSettings
from ticketing.models.reviews import Review, ReviewStatus
from ticketing.repository.dynamodb import DynamoTicketRepository
from ticketing.repository.reviews import ReviewRepository
from ticketing.services import reviews as review_service

pytestmark = pytest.mark.integration

MOVE_BOTH_INDEXES = {"table": 1.0, "gsi1": 2.0, "gsi2": 2.0}


@pytest.fixture
def setup(repo: DynamoTicketRepository) -> tuple[ReviewRepository, Review]:
    ws = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=ws, name="shop"))
    review = Review.of(record(shop_connection(ws), 1), workspace_id=ws, fetched_at=NOW)
    return ReviewRepository(repo), review


def test_storing_a_review_is_one_put_and_a_duplicate_writes_nothing(setup, ddb_client: Any):
    reviews, review = setup
    # WHEN a new review is stored, then the same review again
    with CapacityMeter(ddb_client) as new:
        assert reviews.store_review(review)
    with CapacityMeter(ddb_client) as again:
        assert not reviews.store_review(review)
    # THEN one Put with both index entries; the duplicate one refused Put, nothing written
    assert calls(new) == [("PutItem", 1, 0.0, 3.0, {"table": 1.0, "gsi1": 1.0, "gsi2": 1.0})]
    assert calls(again) == [("PutItem", 1, 0.0, 0.0, {})]


def test_listing_is_one_index_query(setup, ddb_client: Any):
    reviews, review = setup
    reviews.store_review(review)
    # WHEN listed by status + rating, and by status + product
    with CapacityMeter(ddb_client) as by_rating:
        page = reviews.list_reviews(
            review.workspace_id,
            status=ReviewStatus.NEW,
            rating=1,
            product_id=None,
            limit=25,
            cursor=None,
        )
    with CapacityMeter(ddb_client) as by_product:
        page2 = reviews.list_reviews(
            review.workspace_id,
            status=ReviewStatus.NEW,
            rating=None,
            product_id=review.product_id,
            limit=25,
            cursor=None,
        )
    # THEN one Query each, on gsi2 / gsi1 (no table read, no filter)
    assert [r.review_id for r in page.items] == [review.review_id]
    assert [r.review_id for r in page2.items] == [review.review_id]
    assert calls(by_rating) == [("Query", 1, 0.5, 0.0, {"table": 0.0, "gsi2": 0.5})]
    assert calls(by_product) == [("Query", 1, 0.5, 0.0, {"table": 0.0, "gsi1": 0.5})]


def test_mark_handled_is_a_read_and_one_guarded_update(setup, ddb_client: Any):
    reviews, review = setup
    reviews.store_review(review)
    # WHEN marked handled, and again
    with CapacityMeter(ddb_client) as first:
        review_service.mark_handled(
            reviews, review.workspace_id, review.review_id, actor="a", now=NOW
        )
    with CapacityMeter(ddb_client) as second:
        review_service.mark_handled(
            reviews, review.workspace_id, review.review_id, actor="b", now=NOW
        )
    # THEN a strong read and an update moving both index keys; the repeat only reads
    assert calls(first) == [
        ("GetItem", 1, 1.0, 0.0, {"table": 1.0}),
        ("UpdateItem", 1, 0.0, 5.0, MOVE_BOTH_INDEXES),
    ]
    assert calls(second) == [("GetItem", 1, 1.0, 0.0, {"table": 1.0})]


def test_convert_reads_the_review_and_links_it_once(setup, ddb_client: Any):
    reviews, review = setup
    reviews.store_review(review)
    ws = review.workspace_id
    # WHEN converted (the ticket part is services.conversion's), then converted again
    with CapacityMeter(ddb_client) as first:
        done = review_service.convert_review(
            reviews, ws, review.review_id, actor="a", now=NOW, lookup=lambda r: "77001"
        )
    with CapacityMeter(ddb_client) as again:
        review_service.convert_review(
            reviews, ws, review.review_id, actor="a", now=NOW, lookup=lambda r: "77001"
        )
    # THEN the review is read first and linked last, by one update (status new → converted);
    # a repeat is two reads (review, its ticket) and writes nothing
    assert done.created
    measured = calls(first)
    assert measured[0] == ("GetItem", 1, 1.0, 0.0, {"table": 1.0})
    assert measured[-1] == ("UpdateItem", 1, 0.0, 5.0, MOVE_BOTH_INDEXES)
    assert calls(again) == [
        ("GetItem", 1, 1.0, 0.0, {"table": 1.0}),
        ("GetItem", 1, 1.0, 0.0, {"table": 1.0}),
    ]


def test_a_re_pulled_page_costs_one_batch_read_and_no_write(repo, ddb_client: Any):
    # GIVEN a pulled page of three new reviews
    from ticketing.services.review_pull import store_page

    ws = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=ws, name="shop"))
    connection = shop_connection(ws)
    page = ReviewPage(records=[record(connection, n) for n in range(3)])
    reviews = ReviewRepository(repo)
    # WHEN it is stored, then pulled and stored again
    with CapacityMeter(ddb_client) as first:
        assert store_page(reviews, connection, page, NOW) == (3, 0)
    with CapacityMeter(ddb_client) as again:
        assert store_page(reviews, connection, page, NOW) == (0, 3)
    # THEN first: one BatchGetItem (none found) and three guarded Puts; again: the read alone
    put = ("PutItem", 1, 0.0, 3.0, {"table": 1.0, "gsi1": 1.0, "gsi2": 1.0})
    assert calls(first) == [("BatchGetItem", 3, 0.0, 0.0, {"table": 0.0}), put, put, put]
    assert calls(again) == [("BatchGetItem", 3, 1.5, 0.0, {"table": 1.5})]
