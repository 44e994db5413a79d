"""The channel senders by channel, built for a connection with its credentials (Parameters-cached
through ticketing.secrets) and an ApiClient on the channel's configured base URL."""

from __future__ import annotations

from functools import lru_cache

from ticketing.channels.api_client import ApiClient
from ticketing.channels.instagram_send import InstagramSender
from ticketing.channels.lazada_send import LazadaSender
from ticketing.channels.line_send import LineSender
from ticketing.channels.messenger_send import MessengerSender
from ticketing.channels.send_base import ChannelSender, credentials_ref
from ticketing.channels.shopee_send import ShopeeSender
from ticketing.channels.whatsapp_send import WhatsAppSender
from ticketing.config import Settings, get_settings
from ticketing.models.records import Channel, ChannelConnection
from ticketing.secrets import resolve_secret

SENDERS: dict[Channel, type[ChannelSender]] = {
    Channel.MESSENGER: MessengerSender,
    Channel.INSTAGRAM: InstagramSender,
    Channel.WHATSAPP: WhatsAppSender,
    Channel.LINE: LineSender,
    Channel.SHOPEE: ShopeeSender,
    Channel.LAZADA: LazadaSender,
}


def base_url(channel: Channel, settings: Settings) -> str:
    if channel in (Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP):
        return settings.meta_graph_base_url
    if channel is Channel.LINE:
        return settings.line_api_base_url
    if channel is Channel.SHOPEE:
        return settings.shopee_api_base_url
    return settings.lazada_api_base_url


@lru_cache(maxsize=16)
def api_client(url: str, timeout: float) -> ApiClient:
    """One pooled client per base URL for the life of the execution environment."""
    return ApiClient(url, timeout=timeout)


def sender_class(channel: Channel) -> type[ChannelSender]:
    return SENDERS[channel]


def get_sender(connection: ChannelConnection) -> ChannelSender:
    settings = get_settings()
    client = api_client(
        base_url(connection.channel, settings), settings.channel_api_timeout_seconds
    )
    secret = resolve_secret(credentials_ref(connection))
    return SENDERS[connection.channel](client, connection, secret)
