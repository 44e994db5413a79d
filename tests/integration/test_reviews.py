"""Product reviews on DynamoDB Local: dedupe, cursor resume, listing, handled, convert (16 at once,
racing the buyer's chat messages), tenant isolation on every route, and the pull / convert
against fake Shopee and Lazada servers (pytest-httpserver).

Concurrency: threads released by a barrier call the services over one thread-safe boto3 client
(the resolver is not thread-safe; the services take a repository)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from functions.reviews_api.app import lambda_handler as reviews_api
from local import demo
from local import review_samples as samples
from tests.helpers import FakeLambdaContext, unique
from ticketing.channels.reviews import parse_lazada_reviews, parse_shopee_comments
from ticketing.channels.shopee import ShopeeAdapter
from ticketing.models import Channel, ChannelConnection, TicketStatus, WorkspaceSettings
from ticketing.models.commands import CustomerMessageReceived
from ticketing.models.reviews import Review, ReviewRecord, ReviewStatus
from ticketing.repository import keys
from ticketing.repository.dynamodb import DynamoTicketRepository, from_dynamo, to_dynamo
from ticketing.repository.reviews import ReviewRepository
from ticketing.services import reviews as review_service
from ticketing.services.ingest import conversation_id_for, ingest_customer_message
from ticketing.services.review_pull import (
    GET_COMMENT_PATH,
    PullStats,
    ShopeeReviewSource,
    pull_shop,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
WRITERS = 16


# ---------------------------------------------------------------------------- fixtures, helpers
def digits(prefix: str) -> str:
    """A unique numeric id (Shopee and Lazada ids are numbers)."""
    return prefix + str(uuid.uuid4().int)[:10]


@pytest.fixture
def rrepo(repo: DynamoTicketRepository) -> ReviewRepository:
    return ReviewRepository(repo)


@pytest.fixture
def ws(repo: DynamoTicketRepository) -> str:
    workspace_id = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, name="shop"))
    return workspace_id


def shop_connection(
    ws: str, channel: Channel = Channel.SHOPEE, **options: str
) -> ChannelConnection:
    return demo.channel_connection(
        channel.value,
        account_id=digits("9") if channel is Channel.SHOPEE else digits("2"),
        workspace_id=ws,
        **options,
    )


def record(
    connection: ChannelConnection,
    review_no: int,
    *,
    rating: int = 1,
    product: str = "p-1",
    at: datetime = NOW,
    order_id: str | None = "order-1",
) -> ReviewRecord:
    return ReviewRecord(
        channel=connection.channel,
        account_id=connection.account_id,
        channel_review_id=str(review_no),
        rating=rating,
        text=f"review {review_no}",
        product_id=product,
        order_id=order_id,
        buyer_name="buyer",
        created_at=at,
    )


def stored(rrepo: ReviewRepository, connection: ChannelConnection, rec: ReviewRecord) -> Review:
    review = Review.of(rec, workspace_id=connection.workspace_id, fetched_at=NOW)
    assert rrepo.store_review(review)
    return review


def review_items(repo: DynamoTicketRepository, ws: str, review_ids: list[str]) -> int:
    found = 0
    for review_id in review_ids:
        response = repo.client.get_item(
            TableName=repo.table_name, Key=to_dynamo(keys.review_key(ws, review_id))
        )
        found += "Item" in response
    return found


def source_links(repo: DynamoTicketRepository, ws: str, ticket_id: str) -> list[dict[str, Any]]:
    response = repo.client.query(
        TableName=repo.table_name,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues=to_dynamo(
            {":p": keys.ticket_key(ws, ticket_id)["pk"], ":s": keys.SOURCE_LINK_PREFIX}
        ),
        ConsistentRead=True,
    )
    return [from_dynamo(i) for i in response["Items"]]


def open_tickets(repo: DynamoTicketRepository, ws: str) -> list[str]:
    return [t.ticket_id for t in repo.list_tickets(ws, TicketStatus.OPEN, 100, None).items]


class FakeShopee:
    """get_comment answers from a list of pages; counts calls, records each cursor asked."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.cursors: list[str] = []

    def call(self, method: str, path: str, *, params: Any = None, **kw: Any) -> dict[str, Any]:
        assert path == GET_COMMENT_PATH
        cursor = str(params["cursor"])
        self.cursors.append(cursor)
        index = int(cursor or 0)
        response: dict[str, Any] = self.pages[index]["response"]
        return response


def comment_pages(count: int, per_page: int = 3) -> list[dict[str, Any]]:
    pages = []
    for p in range(count):
        comments = [
            samples.shopee_comment(1000 + p * per_page + i, 1 + i % 5, f"c{p}.{i}")
            for i in range(per_page)
        ]
        last = p == count - 1
        pages.append(
            samples.shopee_get_comment(
                comments, more=not last, next_cursor="" if last else str(p + 1)
            )
        )
    return pages


def convert(
    rrepo: ReviewRepository, ws: str, review_id: str, buyer: str, actor: str = "agent-1"
) -> review_service.Conversion:
    return review_service.convert_review(
        rrepo, ws, review_id, actor=actor, now=NOW, lookup=lambda review: buyer
    )


# ---------------------------------------------------------------------------- dedupe, cursor
def test_repulling_the_same_page_stores_nothing_twice(rrepo, repo, ws):
    # GIVEN a Shopee page of reviews, as parsed from the channel's answer
    connection = shop_connection(ws)
    page = parse_shopee_comments(
        connection.account_id, samples.channel_answers()["shopee_get_comment"]
    )
    reviews = [Review.of(r, workspace_id=ws, fetched_at=NOW) for r in page.records]
    # WHEN it is stored twice (a re-pulled page)
    first = [rrepo.store_review(r) for r in reviews]
    second = [rrepo.store_review(r.model_copy(update={"text": "changed"})) for r in reviews]
    # THEN the first pass stores each once, the second nothing; the stored text is the first
    assert first == [True, True]
    assert second == [False, False]
    assert review_items(repo, ws, [r.review_id for r in reviews]) == 2
    again = rrepo.get_review(ws, reviews[0].review_id)
    assert again is not None
    assert again.text == reviews[0].text


def test_pull_stops_before_the_time_is_up_and_resumes_at_the_cursor(rrepo, repo, ws):
    # GIVEN 3 pages of Shopee reviews and an invocation with time for one page only
    connection = shop_connection(ws)
    repo.put_connection(connection)
    api = FakeShopee(comment_pages(3))
    source = ShopeeReviewSource(api, connection.account_id, page_size=3)
    budget = iter([10_000, 1_000])
    stats = PullStats()
    # WHEN the first run pulls
    finished = pull_shop(
        rrepo, connection, source, now=NOW, time_left_ms=lambda: next(budget), stats=stats
    )
    # THEN one page is stored and the cursor points at the second
    assert finished is False
    assert stats.pages == 1
    assert stats.stored == 3
    assert rrepo.get_cursor(connection.channel, connection.account_id).state == {"cursor": "1"}
    # WHEN the next run pulls with enough time
    stats2 = PullStats()
    finished2 = pull_shop(
        rrepo, connection, source, now=NOW, time_left_ms=lambda: 60_000, stats=stats2
    )
    # THEN it resumes at page 2 (not page 1), stores the 6 others, and rewinds for the next sweep
    assert finished2 is True
    assert api.cursors == ["", "1", "2"]
    assert (stats2.pages, stats2.stored, stats2.duplicates) == (2, 6, 0)
    cursor = rrepo.get_cursor(connection.channel, connection.account_id)
    assert cursor.state == {"cursor": ""}
    assert cursor.version == 3
    # WHEN a third run sweeps everything again
    stats3 = PullStats()
    pull_shop(rrepo, connection, source, now=NOW, time_left_ms=lambda: 60_000, stats=stats3)
    # THEN nothing is stored twice
    assert (stats3.stored, stats3.duplicates) == (0, 9)
    listed = rrepo.list_reviews(
        ws, status=ReviewStatus.NEW, rating=None, product_id=None, limit=100, cursor=None
    )
    assert len(listed.items) == 9


def test_a_stale_cursor_never_moves_it_back(rrepo, ws):
    # GIVEN a cursor saved once, then read by two overlapping runs
    connection = shop_connection(ws)
    base = rrepo.get_cursor(connection.channel, connection.account_id)
    saved = rrepo.save_cursor(base.model_copy(update={"state": {"cursor": "1"}}), now=NOW)
    assert saved is not None
    # WHEN one run moves it and the other (still holding version 1) tries after it
    ahead = rrepo.save_cursor(saved.model_copy(update={"state": {"cursor": "5"}}), now=NOW)
    stale = rrepo.save_cursor(saved.model_copy(update={"state": {"cursor": "2"}}), now=NOW)
    # THEN the second is refused and the cursor stays where the first put it
    assert ahead is not None
    assert stale is None
    assert rrepo.get_cursor(connection.channel, connection.account_id).state == {"cursor": "5"}
    # and a second "first" save of a never-saved cursor is refused too
    assert rrepo.save_cursor(base, now=NOW) is None


# ---------------------------------------------------------------------------- the API
def call(
    method: str,
    path: str,
    ws: str,
    *,
    query: dict[str, str] | None = None,
    agent: str = "agent-1",
) -> tuple[int, dict[str, Any]]:
    parts = path.strip("/").split("/")
    resource = "/reviews"
    params = None
    if len(parts) >= 2:
        params = {"review_id": parts[1]}
        resource = "/reviews/{review_id}" + ("/" + parts[2] if len(parts) == 3 else "")
    event = demo.api_event(
        method,
        resource,
        path,
        path_parameters=params,
        query=query,
        claims={"sub": agent, "custom:workspace_id": ws},
    )
    response = reviews_api(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api_ws(app_env: None, repo: DynamoTicketRepository) -> str:
    workspace_id = unique("ws-")
    repo.put_workspace(WorkspaceSettings(workspace_id=workspace_id, name="shop"))
    return workspace_id


def test_list_by_status_rating_and_product_is_paginated_lowest_rating_first(rrepo, api_ws):
    # GIVEN reviews of two products with ratings 1..5, some older than others
    connection = shop_connection(api_ws)
    made = [
        stored(
            rrepo,
            connection,
            record(
                connection,
                n,
                rating=1 + n % 5,
                product="p-a" if n < 6 else "p-b",
                at=NOW - timedelta(hours=n),
            ),
        )
        for n in range(10)
    ]
    # WHEN the new reviews are listed 4 at a time
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        status, body = call("GET", "/reviews", api_ws, query=query)
        assert status == 200
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    # THEN all 10 come once, lowest rating first, newest first within a rating
    assert len(seen) == 10
    assert len({r["review_id"] for r in seen}) == 10
    order = [(r["rating"], -datetime.fromisoformat(r["created_at"]).timestamp()) for r in seen]
    assert order == sorted(order)
    # WHEN filtered by rating, by product, and by both
    _, by_rating = call("GET", "/reviews", api_ws, query={"rating": "1"})
    _, by_product = call("GET", "/reviews", api_ws, query={"product_id": "p-b"})
    _, both = call("GET", "/reviews", api_ws, query={"product_id": "p-a", "rating": "2"})
    # THEN exactly the matching reviews
    expect_rating = {r.review_id for r in made if r.rating == 1}
    assert {r["review_id"] for r in by_rating["items"]} == expect_rating
    assert {r["review_id"] for r in by_product["items"]} == {
        r.review_id for r in made if r.product_id == "p-b"
    }
    assert {r["review_id"] for r in both["items"]} == {
        r.review_id for r in made if r.product_id == "p-a" and r.rating == 2
    }
    # and a cursor from another list (or another workspace) is a 400
    _, page = call("GET", "/reviews", api_ws, query={"limit": "1"})
    status, error = call(
        "GET", "/reviews", api_ws, query={"rating": "3", "cursor": page["next_cursor"]}
    )
    assert status == 400
    assert error["error"]["code"] == "invalid_cursor"
    status, _ = call("GET", "/reviews", unique("ws-"), query={"cursor": page["next_cursor"]})
    assert status == 400
    # and bad filters are 422
    assert call("GET", "/reviews", api_ws, query={"rating": "6"})[0] == 422
    assert call("GET", "/reviews", api_ws, query={"status": "open"})[0] == 422


def test_mark_handled_moves_the_review_between_lists_and_is_idempotent(rrepo, api_ws):
    # GIVEN a new review
    connection = shop_connection(api_ws)
    review = stored(rrepo, connection, record(connection, 1, rating=2))
    # WHEN an agent marks it handled, and another agent does again
    status, body = call("POST", f"/reviews/{review.review_id}/handled", api_ws, agent="a-1")
    status2, body2 = call("POST", f"/reviews/{review.review_id}/handled", api_ws, agent="a-2")
    # THEN it is handled by the first agent, and the second call changed nothing
    assert (status, status2) == (200, 200)
    assert body["status"] == "handled"
    assert body["handled_by"] == "a-1"
    assert body2 == body
    _, new = call("GET", "/reviews", api_ws, query={"status": "new"})
    _, handled = call("GET", "/reviews", api_ws, query={"status": "handled", "rating": "2"})
    assert review.review_id not in {r["review_id"] for r in new["items"]}
    assert [r["review_id"] for r in handled["items"]] == [review.review_id]
    stored_now = rrepo.get_review(api_ws, review.review_id)
    assert stored_now is not None
    assert stored_now.version == 2


def test_every_route_is_a_404_for_another_workspace(rrepo, repo, api_ws):
    # GIVEN a review of workspace A, and an agent of workspace B
    connection = shop_connection(api_ws)
    review = stored(rrepo, connection, record(connection, 1))
    other = unique("ws-b-")
    repo.put_workspace(WorkspaceSettings(workspace_id=other, name="B"))
    # WHEN B reads, marks and converts A's review, and lists its own reviews
    answers = [
        call("GET", f"/reviews/{review.review_id}", other),
        call("POST", f"/reviews/{review.review_id}/handled", other),
        call("POST", f"/reviews/{review.review_id}/convert", other),
    ]
    _, listed = call("GET", "/reviews", other)
    _, listed_rating = call("GET", "/reviews", other, query={"rating": "1", "product_id": "p-1"})
    # THEN every read and write is a 404 and B's lists are empty
    assert [(s, b["error"]["code"]) for s, b in answers] == [(404, "not_found")] * 3
    assert listed["items"] == []
    assert listed_rating["items"] == []
    # and A's review is unchanged, no ticket was opened anywhere
    after = rrepo.get_review(api_ws, review.review_id)
    assert after == review
    assert open_tickets(repo, other) == []
    assert open_tickets(repo, api_ws) == []
    # while A itself reads it
    assert call("GET", f"/reviews/{review.review_id}", api_ws)[0] == 200


# ---------------------------------------------------------------------------- convert
def test_sixteen_parallel_converts_open_one_ticket_with_one_link(rrepo, repo, ws):
    # GIVEN a review of a Shopee buyer never seen in chat
    connection = shop_connection(ws)
    review = stored(rrepo, connection, record(connection, 1))
    buyer = digits("77")
    barrier = threading.Barrier(WRITERS)

    def go(index: int) -> review_service.Conversion:
        barrier.wait(timeout=30)
        return convert(rrepo, ws, review.review_id, buyer, actor=f"agent-{index}")

    # WHEN 16 converts of it start at the same instant
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(go, range(WRITERS)))
    # THEN all answer the same ticket, one link each way, one open ticket on the buyer's chat
    ticket_ids = {r.ticket.ticket_id for r in results}
    assert len(ticket_ids) == 1
    (ticket_id,) = ticket_ids
    assert sum(r.created for r in results) == 1  # the call that opened it says so
    assert open_tickets(repo, ws) == [ticket_id]
    links = source_links(repo, ws, ticket_id)
    assert [(x["source_kind"], x["source_id"]) for x in links] == [("review", review.review_id)]
    after = rrepo.get_review(ws, review.review_id)
    assert after is not None
    assert after.ticket_id == ticket_id
    assert after.status is ReviewStatus.CONVERTED
    assert after.version == 2
    assert after.buyer_chat_id == buyer
    conversation = repo.get_conversation(
        ws, conversation_id_for(Channel.SHOPEE, connection.account_id, buyer)
    )
    assert conversation is not None
    assert conversation.open_ticket_id == ticket_id
    # WHEN converted again later
    again = convert(rrepo, ws, review.review_id, "someone-else")
    # THEN the same ticket, nothing new (the lookup is not even used)
    assert again.ticket.ticket_id == ticket_id
    assert again.created is False
    assert open_tickets(repo, ws) == [ticket_id]


def test_convert_racing_the_buyer_s_chat_messages_lands_on_one_ticket(rrepo, repo, ws):
    # GIVEN a Shopee shop, a review by a buyer, and that buyer's chat pushes arriving meanwhile
    connection = shop_connection(ws)
    repo.put_connection(connection)
    buyer = digits("77")
    review = stored(rrepo, connection, record(connection, 1))
    adapter = ShopeeAdapter()
    ts = int(NOW.timestamp() * 1000)

    def chat_command(index: int) -> CustomerMessageReceived:
        push = demo.shopee_push(
            f"msg-{index}",
            content={"text": "where is my refund?"},
            from_id=buyer,
            shop_id=connection.account_id,
            ts=ts,
        )
        payload = adapter.parse(json.dumps(push).encode())
        (command,) = adapter.commands(payload, {connection.account_id: connection})
        assert isinstance(command, CustomerMessageReceived)
        return command

    barrier = threading.Barrier(WRITERS)

    def act(index: int) -> str:
        barrier.wait(timeout=30)
        if index % 2 == 0:
            return convert(rrepo, ws, review.review_id, buyer).ticket.ticket_id
        result = ingest_customer_message(repo, ws, chat_command(index), NOW)
        assert result.ticket_id is not None
        return result.ticket_id

    # WHEN 8 converts and 8 chat messages race
    with ThreadPoolExecutor(WRITERS) as pool:
        ticket_ids = set(pool.map(act, range(WRITERS)))
    # THEN there is one open ticket: the review is linked to it, and every message is on it
    assert len(ticket_ids) == 1
    (ticket_id,) = ticket_ids
    assert open_tickets(repo, ws) == [ticket_id]
    after = rrepo.get_review(ws, review.review_id)
    assert after is not None
    assert after.ticket_id == ticket_id
    messages = repo.list_messages(ws, ticket_id, 100, None).items
    assert len(messages) == WRITERS // 2
    assert len(source_links(repo, ws, ticket_id)) == 1


def test_convert_without_a_chat_buyer_is_422_and_changes_nothing(rrepo, repo, ws):
    # GIVEN a review whose buyer cannot be found in chat (no order)
    connection = shop_connection(ws)
    review = stored(rrepo, connection, record(connection, 1, order_id=None))
    # WHEN converted
    from ticketing.errors import UnprocessableError

    with pytest.raises(UnprocessableError):
        review_service.convert_review(
            rrepo, ws, review.review_id, actor="a", now=NOW, lookup=lambda r: None
        )
    # THEN nothing was written
    assert rrepo.get_review(ws, review.review_id) == review
    assert open_tickets(repo, ws) == []


# ---------------------------------------------------------------------------- fake channels
@pytest.fixture
def channel_env(
    app_env: None, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HTTPServer]:
    """Shopee and Lazada pointed at one fake server; API credentials in a local secrets file."""
    from ticketing.config import get_settings

    secrets = {
        **demo.secrets(),
        "shopee-api": json.dumps(
            {"partner_id": 2001234, "partner_key": "demo-shopee-partner-key", "access_token": "tok"}
        ),
        "lazada-api": json.dumps(
            {"app_key": "100001", "app_secret": "demo-lazada-app-secret", "access_token": "tok"}
        ),
    }
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(secrets))
    monkeypatch.setenv("LOCAL_SECRETS_FILE", str(secrets_file))
    monkeypatch.setenv("SHOPEE_API_BASE_URL", httpserver.url_for("/shopee"))
    monkeypatch.setenv("LAZADA_API_BASE_URL", httpserver.url_for("/lazada/rest"))
    get_settings.cache_clear()
    yield httpserver
    get_settings.cache_clear()


def test_convert_route_asks_shopee_for_the_buyer_and_joins_their_chat_ticket(
    channel_env, rrepo, repo, api_ws
):
    # GIVEN a Shopee shop whose buyer already has an open chat ticket (from a signed webhook
    # shape), a review of theirs, and Shopee answering the order's buyer_user_id
    connection = shop_connection(api_ws, api_credentials_ref="local:shopee-api")
    repo.put_connection(connection)
    buyer = digits("77")
    adapter = ShopeeAdapter()
    push = demo.shopee_push(
        "m-1",
        content={"text": "hi"},
        from_id=buyer,
        shop_id=connection.account_id,
        ts=int(NOW.timestamp() * 1000),
    )
    (command,) = adapter.commands(
        adapter.parse(json.dumps(push).encode()), {connection.account_id: connection}
    )
    assert isinstance(command, CustomerMessageReceived)
    chat = ingest_customer_message(repo, api_ws, command, NOW)
    review = stored(rrepo, connection, record(connection, 1, order_id=samples.SHOPEE_ORDER_SN))
    channel_env.expect_request("/shopee/api/v2/order/get_order_detail").respond_with_json(
        samples.shopee_order_detail(buyer=buyer)
    )
    # WHEN an agent converts the review
    status, body = call("POST", f"/reviews/{review.review_id}/convert", api_ws)
    # THEN the review joins the buyer's open chat ticket, linked both ways
    assert status == 200, body
    assert body["ticket"]["ticket_id"] == chat.ticket_id
    assert body["created"] is False
    assert body["review"]["ticket_id"] == chat.ticket_id
    assert body["review"]["status"] == "converted"
    links = source_links(repo, api_ws, chat.ticket_id)
    assert [x["source_id"] for x in links] == [review.review_id]
    # the request was signed and carried the shop's credentials
    (request, _), *rest = channel_env.log
    assert rest == []
    assert request.args["shop_id"] == connection.account_id
    assert request.args["sign"]
    assert request.args["order_sn_list"] == samples.SHOPEE_ORDER_SN
    # WHEN converted again: the same ticket, Shopee not asked again
    status2, body2 = call("POST", f"/reviews/{review.review_id}/convert", api_ws)
    assert status2 == 200
    assert body2["ticket"]["ticket_id"] == chat.ticket_id
    assert len(channel_env.log) == 1


def test_pull_handler_stores_new_reviews_of_connected_shops_from_both_channels(
    channel_env, rrepo, repo, api_ws
):
    # GIVEN a Shopee shop and a Lazada seller connected with API credentials, and a disconnected
    # shop, each with reviews on the fake channels
    from functions.reviews_pull.app import lambda_handler as pull
    from ticketing.models import ConnectionStatus

    shopee = shop_connection(api_ws, api_credentials_ref="local:shopee-api")
    lazada = shop_connection(api_ws, Channel.LAZADA, api_credentials_ref="local:lazada-api")
    gone = shop_connection(api_ws, api_credentials_ref="local:shopee-api").model_copy(
        update={"status": ConnectionStatus.DISCONNECTED}
    )
    for connection in (shopee, lazada, gone):
        repo.put_connection(connection)
    answers = samples.channel_answers()
    one_page = {
        **answers["shopee_get_comment"],
        "response": {**answers["shopee_get_comment"]["response"], "more": False},
    }

    def get_comment(request: Request) -> Response:
        # this shop's reviews; any other shop of the session's table: none
        mine = request.args.get("shop_id") == shopee.account_id
        empty = samples.shopee_get_comment([])
        return Response(json.dumps(one_page if mine else empty), content_type="application/json")

    channel_env.expect_request(
        "/shopee/api/v2/product/get_comment", method="GET"
    ).respond_with_handler(get_comment)
    channel_env.expect_request("/lazada/rest/review/seller/history/list").respond_with_json(
        answers["lazada_review_history"]
    )
    channel_env.expect_request("/lazada/rest/review/seller/list/v2").respond_with_json(
        answers["lazada_review_list"]
    )
    # WHEN the scheduled pull runs (twice: a redelivered schedule or the next run)
    first = pull(samples.scheduled_event(), FakeLambdaContext())
    second = pull(samples.scheduled_event(), FakeLambdaContext())
    # THEN both shops' reviews are stored once, in their workspace; the disconnected shop is
    # never called; nothing of this workspace failed
    mine = {f"shopee:{shopee.account_id}", f"lazada:{lazada.account_id}"}
    assert not mine & set(first["failed_shops"])
    assert not mine & set(second["failed_shops"])
    listed = rrepo.list_reviews(
        api_ws, status=ReviewStatus.NEW, rating=None, product_id=None, limit=100, cursor=None
    ).items
    expected_shopee = parse_shopee_comments(shopee.account_id, answers["shopee_get_comment"])
    expected_lazada = parse_lazada_reviews(lazada.account_id, answers["lazada_review_list"])
    assert sorted(r.review_id for r in listed) == sorted(
        r.derived_id() for r in expected_shopee.records + expected_lazada.records
    )
    assert all(r.account_id != gone.account_id for r in listed)
    shop_args = [r.args.get("shop_id") for r, _ in channel_env.log if "shopee" in r.path]
    assert gone.account_id not in shop_args
    assert shopee.account_id in shop_args
    # the Lazada cursor moved to "caught up" and Shopee's rewound to the top
    assert rrepo.get_cursor(Channel.SHOPEE, shopee.account_id).state == {"cursor": ""}
    assert "start_ms" in rrepo.get_cursor(Channel.LAZADA, lazada.account_id).state


def test_convert_route_asks_lazada_for_the_order_s_chat_session(channel_env, rrepo, repo, api_ws):
    # GIVEN a Lazada seller, a review of an order, and Lazada opening that order's chat session
    connection = shop_connection(api_ws, Channel.LAZADA, api_credentials_ref="local:lazada-api")
    repo.put_connection(connection)
    review = stored(rrepo, connection, record(connection, 7, order_id=samples.LAZADA_ORDER_ID))
    session = f"100001_2_{connection.account_id}_1_{digits('6')}"
    channel_env.expect_request("/lazada/rest/im/session/open", method="POST").respond_with_json(
        samples.lazada_session_open(session)
    )
    # WHEN an agent converts it
    status, body = call("POST", f"/reviews/{review.review_id}/convert", api_ws)
    # THEN a ticket is opened on the conversation Lazada chat messages of that session use
    assert status == 200, body
    assert body["created"] is True
    conversation = repo.get_conversation(
        api_ws, conversation_id_for(Channel.LAZADA, connection.account_id, session)
    )
    assert conversation is not None
    assert conversation.open_ticket_id == body["ticket"]["ticket_id"]
    after = rrepo.get_review(api_ws, review.review_id)
    assert after is not None
    assert after.buyer_chat_id == session
    # and the call was signed (system parameters in the query, the order in the form body)
    (request, _), *rest = channel_env.log
    assert rest == []
    assert request.args["app_key"] == "100001"
    assert request.args["sign"]
    assert request.form["order_id"] == samples.LAZADA_ORDER_ID


def test_convert_when_the_channel_fails_is_a_502_and_changes_nothing(
    channel_env, rrepo, repo, api_ws
):
    # GIVEN a Shopee review and Shopee answering the order lookup with an error
    connection = shop_connection(api_ws, api_credentials_ref="local:shopee-api")
    repo.put_connection(connection)
    review = stored(rrepo, connection, record(connection, 8, order_id=samples.SHOPEE_ORDER_SN))
    channel_env.expect_request("/shopee/api/v2/order/get_order_detail").respond_with_json(
        {"request_id": "r", "error": "error_param", "message": "order not found"}, status=400
    )
    # WHEN converted
    status, body = call("POST", f"/reviews/{review.review_id}/convert", api_ws)
    # THEN an error naming the channel, and no ticket, no link
    assert status == 502
    assert body["error"]["code"] == "channel_rejected"
    assert rrepo.get_review(api_ws, review.review_id) == review
    assert open_tickets(repo, api_ws) == []
