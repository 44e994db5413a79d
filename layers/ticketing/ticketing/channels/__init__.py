"""The channel registry: one adapter per channel; nothing else knows channel specifics.

Adapters are imported on first use: a cold start pays for the one channel it serves, not for
the payload models of all six.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from ticketing.channels.base import ChannelAdapter
from ticketing.errors import UnsupportedChannelError

# channel → "module:AdapterClass" under ticketing.channels
REGISTRY: dict[str, str] = {
    "messenger": "messenger:MessengerAdapter",
    "line": "line:LineAdapter",
    "whatsapp": "whatsapp:WhatsAppAdapter",
    "instagram": "instagram:InstagramAdapter",
    "shopee": "shopee:ShopeeAdapter",
    "lazada": "lazada:LazadaAdapter",
}


@cache
def get_adapter(channel: str) -> ChannelAdapter[Any]:
    target = REGISTRY.get(channel)
    if target is None:
        raise UnsupportedChannelError(
            "unsupported channel", details={"channel": channel, "supported": sorted(REGISTRY)}
        )
    module, _, name = target.partition(":")
    adapter: ChannelAdapter[Any] = getattr(
        importlib.import_module(f"ticketing.channels.{module}"), name
    )()
    return adapter


def all_adapters() -> dict[str, ChannelAdapter[Any]]:
    return {channel: get_adapter(channel) for channel in REGISTRY}
