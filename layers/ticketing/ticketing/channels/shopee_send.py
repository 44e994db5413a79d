"""Shopee Chat: ``v2.sellerchat.send_message`` (text) to the buyer (``customer_id`` = the buyer's
user id), signed by shopee_api. The answer's ``message_id`` is the id later pushes name. Not
idempotent. Credentials: ``partner_id``, ``partner_key``, ``access_token`` (``shop_id`` defaults
to the connection's account id)."""

from __future__ import annotations

from typing import ClassVar

from ticketing.channels.send_base import ChannelSender, SendRequest, SendResult
from ticketing.channels.shopee_api import ShopeeApi, ShopeeCredentials
from ticketing.errors import ChannelApiRejectedError
from ticketing.models.records import Channel


class ShopeeSender(ChannelSender):
    channel: ClassVar[Channel] = Channel.SHOPEE
    credential_keys: ClassVar[tuple[str, ...]] = ("partner_id", "partner_key", "access_token")

    def send(self, request: SendRequest) -> SendResult:
        credentials = ShopeeCredentials.from_secret(self.credentials, shop_id=request.account_id)
        api = ShopeeApi(self.client, credentials)
        try:
            to_id = int(request.customer_id)
        except ValueError as exc:
            raise ChannelApiRejectedError(
                "shopee: the customer id is not a Shopee user id",
                reason="invalid_recipient",
                http_status=0,
            ) from exc
        response = api.send_message(to_id=to_id, text=request.text)
        message_id = response.get("message_id")
        if not message_id:
            raise ChannelApiRejectedError(
                "shopee: the answer names no message_id", reason="channel_error", http_status=200
            )
        return SendResult(channel_message_id=str(message_id), raw=response)
