"""Wiring of the review pull and the convert lookup to the channels' signed Open Platform APIs.

Credentials: a connection's ``secret_ref`` is its *webhook signing* secret; the Open Platform
credentials (Shopee ``partner_id``/``partner_key``/``access_token``, Lazada ``app_key``/
``app_secret``/``access_token``) are a JSON secret named by ``options["api_credentials_ref"]``
(same stores: ssm:/ticket-engine/…, secretsmanager:ticket-engine/…, local:…), read through
ticketing/secrets.py (cached). Base URLs come from Settings (``SHOPEE_API_BASE_URL``,
``LAZADA_API_BASE_URL``).

The buyer's chat customer id for a review (what the chat webhooks use as ``customer_id``):
- Shopee: ``v2.order.get_order_detail`` (``response_optional_fields=buyer_user_id``) of the
  review's ``order_sn`` → ``buyer_user_id``, the ``from_id`` of the buyer's chat messages;
- Lazada: ``/im/session/open`` with the review's ``order_id`` → ``session_id`` **[uncertain]**:
  the buyer-seller session, Lazada chat's ``customer_id`` (channels/lazada.py).
"""

from __future__ import annotations

import json
from typing import Any

from ticketing.channels.api_client import ApiClient
from ticketing.channels.lazada_api import LazadaApi, LazadaCredentials
from ticketing.channels.reviews import parse_lazada_session_id, parse_shopee_buyer_user_id
from ticketing.channels.shopee_api import ShopeeApi, ShopeeCredentials
from ticketing.config import get_settings
from ticketing.errors import ConfigurationError
from ticketing.models.records import Channel, ChannelConnection
from ticketing.models.reviews import Review
from ticketing.repository.dynamodb import get_repository
from ticketing.secrets import resolve_secret
from ticketing.services.review_pull import LazadaReviewSource, ReviewSource, ShopeeReviewSource

CREDENTIALS_OPTION = "api_credentials_ref"
ORDER_DETAIL_PATH = "/api/v2/order/get_order_detail"
SESSION_OPEN_PATH = "/im/session/open"
TIMEOUT_SECONDS = 5.0


def api_credentials(connection: ChannelConnection) -> dict[str, Any]:
    ref = connection.options.get(CREDENTIALS_OPTION)
    if not ref:
        raise ConfigurationError(
            "the connection names no API credentials",
            details={"channel": connection.channel, "option": CREDENTIALS_OPTION},
        )
    try:
        values = json.loads(resolve_secret(ref))
    except ValueError as exc:
        raise ConfigurationError("API credentials must be a JSON object") from exc
    if not isinstance(values, dict):
        raise ConfigurationError("API credentials must be a JSON object")
    return values


def shopee_api(connection: ChannelConnection) -> ShopeeApi:
    credentials = ShopeeCredentials.from_secret(
        api_credentials(connection), shop_id=connection.account_id
    )
    client = ApiClient(get_settings().shopee_api_base_url, timeout=TIMEOUT_SECONDS)
    return ShopeeApi(client, credentials)


def lazada_api(connection: ChannelConnection) -> LazadaApi:
    credentials = LazadaCredentials.from_secret(
        api_credentials(connection), app_key=connection.options.get("app_key")
    )
    client = ApiClient(get_settings().lazada_api_base_url, timeout=TIMEOUT_SECONDS)
    return LazadaApi(client, credentials)


def review_source(connection: ChannelConnection) -> ReviewSource:
    if connection.channel is Channel.SHOPEE:
        return ShopeeReviewSource(shopee_api(connection), connection.account_id)
    if connection.channel is Channel.LAZADA:
        return LazadaReviewSource(lazada_api(connection), connection.account_id)
    raise ConfigurationError("reviews are pulled from Shopee and Lazada only")


def buyer_chat_id(connection: ChannelConnection, review: Review) -> str | None:
    if review.channel is Channel.SHOPEE and review.order_id:
        response = shopee_api(connection).call(
            "GET",
            ORDER_DETAIL_PATH,
            params={
                "order_sn_list": review.order_id,
                "response_optional_fields": "buyer_user_id,buyer_username",
            },
        )
        return parse_shopee_buyer_user_id({"response": response}, review.order_id)
    if review.channel is Channel.LAZADA and review.order_id:
        answer = lazada_api(connection).call(
            "POST", SESSION_OPEN_PATH, {"order_id": review.order_id}, idempotent=True
        )
        return parse_lazada_session_id(answer)
    return None


def buyer_chat_lookup(review: Review) -> str | None:
    """The convert route's lookup: the review's own shop connection, then the channel."""
    connection = get_repository().get_connection(review.channel, review.account_id)
    if connection is None or connection.workspace_id != review.workspace_id:
        return None
    return buyer_chat_id(connection, review)
