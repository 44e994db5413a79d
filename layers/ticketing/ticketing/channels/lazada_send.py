"""Lazada IM: ``/im/message/send`` with the text template to the session (``customer_id`` is the
IM ``session_id``, see lazada.py), signed by lazada_api. The answer's ``data.message_id`` is the
channel id. Not idempotent. Credentials: ``app_secret``, ``access_token`` and ``app_key`` (or the
connection's ``options["app_key"]``)."""

from __future__ import annotations

from typing import ClassVar

from ticketing.channels.lazada_api import LazadaApi, LazadaCredentials
from ticketing.channels.send_base import ChannelSender, SendRequest, SendResult
from ticketing.errors import ChannelApiRejectedError
from ticketing.models.records import Channel


class LazadaSender(ChannelSender):
    channel: ClassVar[Channel] = Channel.LAZADA
    credential_keys: ClassVar[tuple[str, ...]] = ("app_secret", "access_token")

    def send(self, request: SendRequest) -> SendResult:
        credentials = LazadaCredentials.from_secret(
            self.credentials, app_key=self.connection.options.get("app_key")
        )
        data = LazadaApi(self.client, credentials).send_text(
            session_id=request.customer_id, text=request.text
        )
        message_id = data.get("message_id") or data.get("msg_id")
        if not message_id:
            raise ChannelApiRejectedError(
                "lazada: the answer names no message_id", reason="channel_error", http_status=200
            )
        return SendResult(channel_message_id=str(message_id), raw=data)
