"""WhatsApp Cloud API messages (``POST /{phone-number-id}/messages``; system-user or business
token as a Bearer header). Free-form text only inside the 24 h customer-service window (outside
it the API answers 131047 "re-engagement message": reason ``outside_window``). The answer's
``messages[0].id`` (``wamid.…``) is the id later statuses name. Not idempotent.

Credentials: ``access_token``.
"""

from __future__ import annotations

from typing import ClassVar

from ticketing.channels.messenger_send import meta_error
from ticketing.channels.send_base import ChannelSender, SendRequest, SendResult, first, rejected
from ticketing.models.records import Channel


class WhatsAppSender(ChannelSender):
    channel: ClassVar[Channel] = Channel.WHATSAPP
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)

    def send(self, request: SendRequest) -> SendResult:
        answer = self.client.request(
            "POST",
            f"/{request.account_id}/messages",
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": request.customer_id,
                "type": "text",
                "text": {"preview_url": False, "body": request.text},
            },
            headers={"Authorization": f"Bearer {first(self.credentials, 'access_token')}"},
        )
        if not answer.ok:
            raise meta_error(self.channel.value, answer)
        messages = answer.json_body.get("messages")
        wamid = messages[0].get("id") if isinstance(messages, list) and messages else None
        if not wamid:
            raise rejected(
                self.channel.value,
                answer,
                reason="channel_error",
                api_code=None,
                message="the answer names no message id",
            )
        return SendResult(channel_message_id=str(wamid), raw=answer.json_body)
