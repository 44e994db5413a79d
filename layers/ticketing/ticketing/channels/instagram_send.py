"""Instagram messaging (``POST /{ig-account-id}/messages`` through the Graph API; the linked
Page's access token). Same body and errors as Messenger (see messenger_send), without
``metadata``; the text limit is 1,000 characters (outbound_rules). Private replies to comments use
``recipient: {"comment_id": ...}`` as on Messenger."""

from __future__ import annotations

from typing import ClassVar

from ticketing.channels.messenger_send import MessengerSender
from ticketing.models.records import Channel


class InstagramSender(MessengerSender):
    channel: ClassVar[Channel] = Channel.INSTAGRAM
    supports_metadata: ClassVar[bool] = False
