"""Comment samples (issue 5, comments): signed Page ``feed`` / Instagram ``comments`` webhooks, the
comments API's REST events, and recorded Send API answers to private replies.

The webhooks and API events become ``events/*.json`` through ``local.demo``'s samples
(``python -m local.demo events``), signed with the demo secrets like every other sample.
"""

from __future__ import annotations

from typing import Any

from local.demo import (
    CLAIMS,
    INSTAGRAM_ACCOUNT_ID,
    MESSENGER_PAGE_ID,
    T0,
    api_event,
    instagram_webhook_event,
    messenger_webhook_event,
)

T0_S = T0 // 1000
FB_POST_ID = f"{MESSENGER_PAGE_ID}_122100000000000001"
FB_COMMENT_ID = "122100000000000001_1000000000000001"
FB_AUTHOR_ID = "7300000000000001"  # the commenter's id in feed webhooks: NOT their PSID
FB_AUTHOR_PSID = "6000000000000042"  # what the Send API names once the private reply is sent
IG_MEDIA_ID = "17900000000000101"
IG_COMMENT_ID = "17865799348089039"
IG_AUTHOR_IGSID = "7300000000000009"
DEMO_COMMENT_REF = "cm_DEMO0000000000000000000000"

# Recorded Send API answers (POST /{page-id}/messages with recipient.comment_id): the recipient is
# the commenter's PSID (Messenger) / IGSID (Instagram), which feed webhooks do not carry.
SEND_API_PRIVATE_REPLY_MESSENGER = {
    "recipient_id": FB_AUTHOR_PSID,
    "message_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP"
    "_5cgXIbu7I3rBN0P",
}
SEND_API_PRIVATE_REPLY_INSTAGRAM = {
    "recipient_id": IG_AUTHOR_IGSID,
    "message_id": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx"
    "OjczMDAwMDAwMDAwMDAwMDkA",
}


def feed_change(
    verb: str,
    *,
    comment_id: str = FB_COMMENT_ID,
    post_id: str = FB_POST_ID,
    parent_id: str | None = None,
    author_id: str = FB_AUTHOR_ID,
    author_name: str = "Jane Doe",
    message: str | None = "Price? Is it still available in red?",
    ts: int = T0_S,
) -> dict[str, Any]:
    """A Page ``feed`` change for a comment, as Graph API v2x delivers it."""
    value: dict[str, Any] = {
        "from": {"id": author_id, "name": author_name},
        "post": {
            "status_type": "added_photos",
            "is_published": True,
            "updated_time": "2025-11-24T16:00:00+0000",
            "permalink_url": f"https://www.facebook.com/{post_id}",
            "promotion_status": "inactive",
            "id": post_id,
        },
        "post_id": post_id,
        "comment_id": comment_id,
        "created_time": ts,
        "item": "comment",
        "parent_id": parent_id or post_id,
        "verb": verb,
    }
    if message is not None:
        value["message"] = message
    return {"field": "feed", "value": value}


def feed_payload(*changes: dict[str, Any], page_id: str = MESSENGER_PAGE_ID) -> Any:
    return {
        "object": "page",
        "entry": [
            {"id": page_id, "time": int(c["value"].get("created_time", T0_S)), "changes": [c]}
            for c in changes
        ],
    }


def ig_comment_change(
    *,
    comment_id: str = IG_COMMENT_ID,
    media_id: str = IG_MEDIA_ID,
    igsid: str = IG_AUTHOR_IGSID,
    username: str = "jane.buys",
    text: str = "How much is this bag? 😍",
    field: str = "comments",
    media_product_type: str = "FEED",
    parent_id: str | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "from": {"id": igsid, "username": username},
        "media": {"id": media_id, "media_product_type": media_product_type},
        "id": comment_id,
        "text": text,
    }
    if parent_id is not None:
        value["parent_id"] = parent_id
    return {"field": field, "value": value}


def ig_payload(
    *changes: dict[str, Any], ig_id: str = INSTAGRAM_ACCOUNT_ID, ts: int = T0_S + 30
) -> Any:
    return {"object": "instagram", "entry": [{"id": ig_id, "time": ts, "changes": list(changes)}]}


def _comment_api(method: str, suffix: str, body: bytes | None = None) -> dict[str, Any]:
    resource = "/comments/{comment_id}" + suffix
    return api_event(
        method,
        resource,
        f"/comments/{DEMO_COMMENT_REF}{suffix}",
        path_parameters={"comment_id": DEMO_COMMENT_REF},
        headers={"Content-Type": "application/json"} if body is not None else None,
        body=body,
        claims=CLAIMS,
    )


def sample_events() -> dict[str, Any]:
    """events/<name>.json of the comments area (webhooks on the existing routes, the API)."""
    return {
        "webhook_messenger_comment": messenger_webhook_event(feed_payload(feed_change("add"))),
        "webhook_messenger_comment_edited": messenger_webhook_event(
            feed_payload(
                feed_change("edited", message="Price? Is it still available in blue?", ts=T0_S + 90)
            )
        ),
        "webhook_messenger_comment_removed": messenger_webhook_event(
            feed_payload(feed_change("remove", message=None, ts=T0_S + 300))
        ),
        "webhook_messenger_page_comment": messenger_webhook_event(
            feed_payload(
                feed_change(
                    "add",
                    comment_id="122100000000000001_1000000000000002",
                    parent_id=FB_COMMENT_ID,
                    author_id=MESSENGER_PAGE_ID,
                    author_name="Demo Shop",
                    message="Hi Jane, we sent you a message!",
                    ts=T0_S + 120,
                )
            )
        ),
        "webhook_instagram_comment": instagram_webhook_event(ig_payload(ig_comment_change())),
        "webhook_instagram_live_comment": instagram_webhook_event(
            ig_payload(
                ig_comment_change(
                    comment_id="17865799348089040",
                    media_id="17900000000000102",
                    text="Do you ship to Chiang Mai?",
                    field="live_comments",
                    media_product_type="LIVE",
                )
            )
        ),
        "comments_api_list_new": api_event(
            "GET", "/comments", "/comments", query={"status": "new", "limit": "25"}, claims=CLAIMS
        ),
        "comments_api_get": _comment_api("GET", ""),
        "comments_api_convert": _comment_api("POST", "/convert"),
        "comments_api_private_reply": _comment_api(
            "POST",
            "/private-reply",
            b'{"text": "Hi Jane! Yes, we have it in red. Which size?",'
            b' "client_message_id": "ui-pr-0001"}',
        ),
    }
