"""Review payload adapters and pull sources, on realistic channel answers (events/reviews/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local import review_samples as samples
from local.demo import (
    LAZADA_BUYER_ID,
    LAZADA_SELLER_ID,
    SHOPEE_BUYER_ID,
    SHOPEE_SHOP_ID,
    T0,
    lazada_session,
)
from ticketing.channels.reviews import (
    parse_lazada_review_ids,
    parse_lazada_reviews,
    parse_lazada_session_id,
    parse_shopee_buyer_user_id,
    parse_shopee_comments,
)
from ticketing.errors import ChannelApiError, MalformedPayloadError
from ticketing.models.records import Channel
from ticketing.models.reviews import Review, review_id_for
from ticketing.services.review_pull import (
    LAZADA_HISTORY_PATH,
    LAZADA_LIST_PATH,
    LazadaReviewSource,
    ShopeeReviewSource,
)

SHOP = SHOPEE_SHOP_ID
SELLER = LAZADA_SELLER_ID


def event_file(name: str) -> Any:
    return json.loads((samples.REVIEW_EVENTS_DIR / f"{name}.json").read_text())


def test_review_event_files_match_the_samples():
    # GIVEN the files in events/reviews/
    # WHEN compared with what local.review_samples generates
    # THEN they are equal (the samples the tests parse are the ones on disk)
    for name, data in samples.review_files().items():
        assert event_file(name) == json.loads(json.dumps(data)), name


# ---------------------------------------------------------------------------- Shopee
def test_shopee_get_comment_answer_becomes_review_records():
    # GIVEN a v2.product.get_comment answer with a 1-star (photos) and a 5-star (replied) review
    body = event_file("shopee_get_comment")
    # WHEN parsed for the shop
    page = parse_shopee_comments(SHOP, body)
    # THEN both become records with rating, text, product, order, buyer and the channel's time
    assert page.more is True
    assert page.next_cursor == "2"
    assert page.skipped == 0
    low, high = page.records
    assert low.channel is Channel.SHOPEE
    assert low.account_id == SHOP
    assert low.channel_review_id == "9100000001"
    assert (low.rating, low.product_id, low.order_id) == (1, "2300000001", samples.SHOPEE_ORDER_SN)
    assert low.text.startswith("สินค้าไม่ตรงปก")
    assert low.buyer_name == "n*****a"
    assert low.buyer_id is None
    assert len(low.media_urls) == 2
    assert low.created_at == datetime.fromtimestamp(samples.T0_S - 3600, tz=UTC)
    assert high.rating == 5
    assert high.seller_reply == "ขอบคุณมากค่ะ 🙏"
    assert high.order_id == "2411240ABCD123"


def test_shopee_bad_comment_is_skipped_not_fatal():
    # GIVEN a page where one comment has a rating of 0 and another no comment_id
    good = samples.shopee_comment(1, 4, "ok")
    bad_rating = samples.shopee_comment(2, 0, "??")
    no_id = {k: v for k, v in samples.shopee_comment(3, 3, "x").items() if k != "comment_id"}
    body = samples.shopee_get_comment([good, bad_rating, no_id])
    # WHEN parsed
    page = parse_shopee_comments(SHOP, body)
    # THEN the good one is kept and the two bad ones are counted as skipped
    assert [r.channel_review_id for r in page.records] == ["1"]
    assert page.skipped == 2
    assert page.more is False


def test_shopee_error_answer_raises_channel_error():
    # GIVEN an error answer / a body that is not an object
    # WHEN parsed
    # THEN a ChannelApiError / MalformedPayloadError, never a silent empty page
    with pytest.raises(ChannelApiError):
        parse_shopee_comments(SHOP, {"error": "error_auth", "message": "invalid token"})
    with pytest.raises(MalformedPayloadError):
        parse_shopee_comments(SHOP, ["not", "an", "object"])


def test_shopee_order_detail_gives_the_chat_buyer_id():
    # GIVEN the order's detail with buyer_user_id (the from_id of the buyer's chat messages)
    body = event_file("shopee_order_detail")
    # WHEN read for the review's order
    # THEN the buyer's user id; another order or an error answer gives None
    assert parse_shopee_buyer_user_id(body, samples.SHOPEE_ORDER_SN) == SHOPEE_BUYER_ID
    assert parse_shopee_buyer_user_id(body, "OTHER") is None
    assert parse_shopee_buyer_user_id({"error": "error_param"}, samples.SHOPEE_ORDER_SN) is None


# ---------------------------------------------------------------------------- Lazada
def test_lazada_history_and_list_become_review_records():
    # GIVEN a history answer (ids) and the list/v2 answer for them
    ids = parse_lazada_review_ids(event_file("lazada_review_history"))
    page = parse_lazada_reviews(SELLER, event_file("lazada_review_list"))
    # THEN the ids are strings and the reviews carry rating, text, product, order and buyer
    assert ids == ["7001000001", "7001000002"]
    low, high = page.records
    assert low.channel is Channel.LAZADA
    assert low.account_id == SELLER
    assert (low.rating, low.product_id, low.order_id) == (2, "3456789012", samples.LAZADA_ORDER_ID)
    assert low.buyer_id == LAZADA_BUYER_ID
    assert low.text == "Size runs small, the M fits like an S."
    assert low.media_urls == ["https://my-live-02.slatic.net/p/demo-review-1.jpg"]
    assert low.created_at == datetime.fromtimestamp((T0 - 7_200_000) / 1000, tz=UTC)
    assert high.rating == 5
    assert high.buyer_id == "600000000002"


def test_lazada_rating_fallbacks_and_bad_reviews():
    # GIVEN reviews rated only by overall_rating, by a bare rating, and by nothing
    overall = samples.lazada_review(1, 3, "a")
    overall["ratings"] = {"overall_rating": 3}
    bare = samples.lazada_review(2, 4, "b")
    bare["ratings"] = {}
    bare["rating"] = 4
    unrated = samples.lazada_review(3, 4, "c")
    unrated["ratings"] = {}
    # WHEN parsed
    page = parse_lazada_reviews(SELLER, samples.lazada_review_list([overall, bare, unrated]))
    # THEN the first two are read, the unrated one skipped
    assert [(r.channel_review_id, r.rating) for r in page.records] == [("1", 3), ("2", 4)]
    assert page.skipped == 1


def test_lazada_error_code_raises_and_data_string_is_read():
    # GIVEN an error code answer, and a success answer whose data is a JSON string
    error = {"code": "IllegalAccessToken", "message": "expired", "request_id": "x"}
    stringly = {"code": "0", "data": json.dumps({"id_list": [5, 6]})}
    # WHEN parsed / THEN the error raises, the string data is read
    with pytest.raises(ChannelApiError):
        parse_lazada_review_ids(error)
    assert parse_lazada_review_ids(stringly) == ["5", "6"]


def test_lazada_session_open_gives_the_chat_customer_id():
    # GIVEN /im/session/open's answer for the review's order
    # WHEN read / THEN the session id: the customer_id Lazada chat messages are stored under
    assert parse_lazada_session_id(event_file("lazada_session_open")) == lazada_session()
    assert parse_lazada_session_id({"code": "E1", "message": "no"}) is None


def test_review_ids_are_derived_and_stable():
    # GIVEN the same channel review id pulled twice, and the same id from another shop
    a = review_id_for(Channel.SHOPEE, SHOP, "1")
    # THEN the derived review id is equal for the same review, different for another shop
    assert a == review_id_for(Channel.SHOPEE, SHOP, "1")
    assert a != review_id_for(Channel.SHOPEE, "other-shop", "1")
    assert a != review_id_for(Channel.LAZADA, SHOP, "1")
    record = parse_shopee_comments(SHOP, event_file("shopee_get_comment")).records[0]
    stored = Review.of(record, workspace_id="ws-1", fetched_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert stored.review_id == record.derived_id()
    assert stored.review_id.startswith("rv_")


# ---------------------------------------------------------------------------- pull sources
class FakeApi:
    """Answers by path, recording each call's parameters."""

    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, path: str, params: Any = None, **kw: Any) -> Any:
        params = params if params is not None else kw.get("params")
        self.calls.append((path, dict(params or {})))
        return self.answers[path].pop(0)


NOW = datetime(2024, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_shopee_source_follows_the_cursor_then_restarts_from_the_top():
    # GIVEN two pages of get_comment (the first with more=true)
    first = samples.shopee_get_comment(
        [samples.shopee_comment(1, 5, "a")], more=True, next_cursor="1"
    )
    last = samples.shopee_get_comment([samples.shopee_comment(2, 4, "b")])
    api = FakeApi({"/api/v2/product/get_comment": [first["response"], last["response"]]})
    source = ShopeeReviewSource(api, SHOP, page_size=1)
    # WHEN paged from an empty state
    one = source.next_page({}, NOW)
    two = source.next_page(one.state, NOW)
    # THEN the second call resumes at the first's cursor; the last page ends the sweep
    assert [c[1]["cursor"] for c in api.calls] == ["", "1"]
    assert (one.done, one.state) == (False, {"cursor": "1"})
    assert (two.done, two.state) == (True, {"cursor": ""})
    assert [r.channel_review_id for r in one.page.records + two.page.records] == ["1", "2"]


def test_lazada_source_windows_pages_and_catches_up():
    # GIVEN a state 10 days back and a history page full to page_size, then a short one
    start = int(NOW.timestamp() * 1000) - 10 * 86_400_000
    full = samples.lazada_history([11, 12])
    short = samples.lazada_history([13])
    empty = samples.lazada_history([])
    reviews = [
        samples.lazada_review_list([samples.lazada_review(11, 5, "a")]),
        samples.lazada_review_list([samples.lazada_review(13, 1, "c")]),
    ]
    api = FakeApi({LAZADA_HISTORY_PATH: [full, short, empty], LAZADA_LIST_PATH: reviews})
    source = LazadaReviewSource(api, SELLER, page_size=2)
    # WHEN paged three times
    one = source.next_page({"start_ms": start, "page": 1}, NOW)
    two = source.next_page(one.state, NOW)
    three = source.next_page(two.state, NOW)
    # THEN: the window is 7 days; a full page asks the next page; a short one moves the window;
    # the last window reaches now and ends the sweep, restarting an hour back next time
    history = [p for path, p in api.calls if path == LAZADA_HISTORY_PATH]
    assert history[0]["end_time"] - history[0]["start_time"] == 7 * 86_400_000
    assert one.state == {"start_ms": start, "page": 2}
    assert not one.done
    assert two.state == {"start_ms": start + 7 * 86_400_000, "page": 1}
    assert not two.done
    assert history[2]["end_time"] == int(NOW.timestamp() * 1000)
    assert three.done
    assert three.state["start_ms"] == int(NOW.timestamp() * 1000) - 3_600_000
    # the list API is asked only for pages that had ids, with the ids as a JSON list
    lists = [p for path, p in api.calls if path == LAZADA_LIST_PATH]
    assert [json.loads(p["id_list"]) for p in lists] == [["11", "12"], ["13"]]
    assert three.page.records == []


# ---------------------------------------------------------------------------- fuzzing
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
shopee_like = st.fixed_dictionaries(
    {"response": st.fixed_dictionaries({"item_comment_list": st.lists(json_values, max_size=3)})}
)
lazada_like = st.fixed_dictionaries(
    {
        "code": st.just("0"),
        "data": st.dictionaries(st.sampled_from(["review_list", "id_list"]), json_values),
    }
)


@settings(max_examples=300, deadline=None)
@given(body=json_values | shopee_like | lazada_like)
def test_any_answer_parses_or_raises_our_error(body):
    # GIVEN any JSON a channel could answer
    # WHEN each review parser reads it
    # THEN it gives a page (of valid records) or raises one of our errors, nothing else
    for parse in (
        lambda b: parse_shopee_comments(SHOP, b),
        lambda b: parse_lazada_reviews(SELLER, b),
        lambda b: parse_lazada_review_ids(b),
    ):
        try:
            result = parse(body)
        except (ChannelApiError, MalformedPayloadError):
            continue
        records = result if isinstance(result, list) else result.records
        assert all(r is not None for r in records)


@given(
    comment=st.fixed_dictionaries(
        {
            "comment_id": st.integers(min_value=1, max_value=2**63),
            "item_id": st.integers(min_value=1, max_value=2**63),
            "rating_star": st.integers(min_value=-1, max_value=7),
            "create_time": st.integers(min_value=-10, max_value=2**62),
            "comment": st.text(max_size=9000) | st.none(),
        }
    )
)
@settings(max_examples=200, deadline=None)
def test_any_comment_is_a_valid_record_or_skipped(comment):
    # GIVEN one comment with arbitrary ids, rating, time and text length
    page = parse_shopee_comments(SHOP, samples.shopee_get_comment([comment]))
    # THEN it is either one valid record (rating 1..5, text ≤ 8000) or counted as skipped
    assert len(page.records) + page.skipped == 1
    for record in page.records:
        assert 1 <= record.rating <= 5
        assert len(record.text) <= 8000
