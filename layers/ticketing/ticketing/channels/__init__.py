"""The channel registry: one adapter per channel; nothing else knows channel specifics."""

from __future__ import annotations

from typing import Any

from ticketing.channels.base import ChannelAdapter
from ticketing.channels.instagram import InstagramAdapter
from ticketing.channels.lazada import LazadaAdapter
from ticketing.channels.line import LineAdapter
from ticketing.channels.messenger import MessengerAdapter
from ticketing.channels.shopee import ShopeeAdapter
from ticketing.channels.whatsapp import WhatsAppAdapter
from ticketing.errors import UnsupportedChannelError

ADAPTERS: dict[str, ChannelAdapter[Any]] = {
    adapter.channel.value: adapter
    for adapter in (
        MessengerAdapter(),
        LineAdapter(),
        WhatsAppAdapter(),
        InstagramAdapter(),
        ShopeeAdapter(),
        LazadaAdapter(),
    )
}


def get_adapter(channel: str) -> ChannelAdapter[Any]:
    try:
        return ADAPTERS[channel]
    except KeyError:
        raise UnsupportedChannelError(
            "unsupported channel", details={"channel": channel, "supported": sorted(ADAPTERS)}
        ) from None
