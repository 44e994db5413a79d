"""Realistic review-list answers of Shopee and Lazada (the review adapters' inputs), the sample
events of the reviews functions, and the files in ``events/reviews/``.

``python -m local.review_samples`` rewrites ``events/reviews/`` (the channels' answers, for a
fake server or a reader; and the scheduled event ``sam local invoke ReviewsPullFunction -e
events/reviews/reviews_pull_scheduled.json`` takes). The reviews API's REST events are in
``local.demo``'s samples (``events/reviews_api_*.json``). A test keeps the files in step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from local.demo import (
    CLAIMS,
    LAZADA_BUYER_ID,
    SHOPEE_BUYER_ID,
    T0,
    api_event,
    lazada_session,
)

ROOT = Path(__file__).resolve().parent.parent
REVIEW_EVENTS_DIR = ROOT / "events" / "reviews"
T0_S = T0 // 1000
SHOPEE_ORDER_SN = "2411250FDEMO01"
LAZADA_ORDER_ID = "401234567890123"
DEMO_REVIEW_ID = "rv_DEMO000000000000000000000"


def shopee_comment(
    comment_id: int,
    rating: int,
    text: str,
    *,
    item_id: int = 2_300_000_001,
    order_sn: str = SHOPEE_ORDER_SN,
    buyer: str = "n*****a",
    ts: int = T0_S,
    images: int = 0,
    reply: str | None = None,
) -> dict[str, Any]:
    """One ``item_comment_list`` entry of ``v2.product.get_comment``."""
    comment: dict[str, Any] = {
        "comment_id": comment_id,
        "comment": text,
        "buyer_username": buyer,
        "order_sn": order_sn,
        "item_id": item_id,
        "model_id": 10_000_000_001,
        "create_time": ts,
        "rating_star": rating,
        "editable": "EXPIRED",
        "hidden": False,
        "media": {
            "image_url_list": [
                f"https://cf.shopee.co.th/file/th-11134103-7r98o-demo{n}" for n in range(images)
            ],
            "video_url_list": [],
        },
    }
    if reply is not None:
        comment["comment_reply"] = {"reply": reply, "hidden": False, "create_time": ts + 3600}
    return comment


def shopee_get_comment(
    comments: list[dict[str, Any]], *, more: bool = False, next_cursor: str = ""
) -> dict[str, Any]:
    return {
        "request_id": "e3e3e7f3d6a5b4c3a2f1e0d9c8b7a6f5",
        "error": "",
        "message": "",
        "response": {"item_comment_list": comments, "more": more, "next_cursor": next_cursor},
    }


def shopee_order_detail(order_sn: str = SHOPEE_ORDER_SN, buyer: str = SHOPEE_BUYER_ID) -> Any:
    return {
        "request_id": "b7a6f5e3e3e7f3d6a5b4c3a2f1e0d9c8",
        "error": "",
        "message": "",
        "response": {
            "order_list": [
                {
                    "order_sn": order_sn,
                    "order_status": "COMPLETED",
                    "buyer_user_id": int(buyer),
                    "buyer_username": "nattaya.s",
                }
            ]
        },
    }


def lazada_review(
    review_id: int,
    rating: int,
    text: str,
    *,
    product_id: int = 3_456_789_012,
    order_id: str = LAZADA_ORDER_ID,
    buyer_id: str = LAZADA_BUYER_ID,
    ts_ms: int = T0,
) -> dict[str, Any]:
    """One ``review_list`` entry of ``/review/seller/list/v2``."""
    return {
        "id": review_id,
        "buyer_id": int(buyer_id),
        "order_id": int(order_id),
        "product_id": product_id,
        "ratings": {"product_rating": rating, "overall_rating": rating},
        "review_content": text,
        "review_type": "PRODUCT",
        "create_time": ts_ms,
        "submit_time": ts_ms,
        "images": [{"url": "https://my-live-02.slatic.net/p/demo-review-1.jpg"}]
        if rating < 3
        else [],
        "seller_reply": None,
    }


def lazada_history(ids: list[int]) -> dict[str, Any]:
    return {
        "code": "0",
        "data": {"id_list": ids, "current": 1, "page_size": 50},
        "request_id": "2101d6a317000000000000001e0b11",
    }


def lazada_review_list(reviews: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": "0",
        "data": {"review_list": reviews},
        "request_id": "2101d6a317000000000000001e0b12",
    }


def lazada_session_open(session_id: str | None = None) -> dict[str, Any]:
    return {
        "code": "0",
        "data": {"session_id": session_id or lazada_session()},
        "request_id": "2101d6a317000000000000001e0b13",
    }


def channel_answers() -> dict[str, Any]:
    """The channels' answers the unit tests parse (files in events/reviews/)."""
    return {
        "shopee_get_comment": shopee_get_comment(
            [
                shopee_comment(
                    9_100_000_001,
                    1,
                    "สินค้าไม่ตรงปก สีซีดมาก ขอคืนเงินได้ไหมคะ",
                    ts=T0_S - 3600,
                    images=2,
                ),
                shopee_comment(
                    9_100_000_002,
                    5,
                    "ส่งไว แพ็คดีมาก ชอบค่ะ",
                    order_sn="2411240ABCD123",
                    buyer="p****k",
                    reply="ขอบคุณมากค่ะ 🙏",
                ),
            ],
            more=True,
            next_cursor="2",
        ),
        "shopee_order_detail": shopee_order_detail(),
        "lazada_review_history": lazada_history([7_001_000_001, 7_001_000_002]),
        "lazada_review_list": lazada_review_list(
            [
                lazada_review(
                    7_001_000_001, 2, "Size runs small, the M fits like an S.", ts_ms=T0 - 7_200_000
                ),
                lazada_review(
                    7_001_000_002,
                    5,
                    "Great quality, fast delivery!",
                    order_id="401234567890999",
                    buyer_id="600000000002",
                ),
            ]
        ),
        "lazada_session_open": lazada_session_open(),
    }


def scheduled_event() -> dict[str, Any]:
    """What EventBridge sends the pull on its schedule."""
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2024-11-14T22:13:20Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ReviewsPullFunctionPullReviews"],
        "detail": {},
    }


def api_events() -> dict[str, Any]:
    """The reviews API's sample REST events (written by ``python -m local.demo events``)."""
    path_parameters = {"review_id": DEMO_REVIEW_ID}
    return {
        "reviews_api_list": api_event(
            "GET",
            "/reviews",
            "/reviews",
            query={"status": "new", "rating": "1", "limit": "25"},
            claims=CLAIMS,
        ),
        "reviews_api_convert": api_event(
            "POST",
            "/reviews/{review_id}/convert",
            f"/reviews/{DEMO_REVIEW_ID}/convert",
            path_parameters=path_parameters,
            claims=CLAIMS,
        ),
        "reviews_api_handled": api_event(
            "POST",
            "/reviews/{review_id}/handled",
            f"/reviews/{DEMO_REVIEW_ID}/handled",
            path_parameters=path_parameters,
            claims=CLAIMS,
        ),
    }


def review_files() -> dict[str, Any]:
    return {**channel_answers(), "reviews_pull_scheduled": scheduled_event()}


def write_review_events() -> None:
    REVIEW_EVENTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in review_files().items():
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        (REVIEW_EVENTS_DIR / f"{name}.json").write_text(text)


if __name__ == "__main__":
    if sys.argv[1:]:
        print("usage: python -m local.review_samples", file=sys.stderr)
        sys.exit(2)
    write_review_events()
