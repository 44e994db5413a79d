"""What every channel adapter provides. Channel-specific code lives only in its own module."""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ticketing.clock import from_ms
from ticketing.errors import MalformedPayloadError
from ticketing.models.commands import (
    ChannelCommand,
    CustomerMessageReceived,
    OutboundMessageSeen,
)
from ticketing.models.records import Attachment, Channel, ChannelConnection
from ticketing.observability import logger

P = TypeVar("P", bound=BaseModel)

# The latest millisecond timestamp a datetime can hold (9999-12-31T23:59:59.999Z): payload models
# bound channel timestamps with it, so an absurd one is a 400 at parse, not a crash later.
MAX_EPOCH_MS = 253_402_300_799_999


def hmac_sha256(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


def ms_to_datetime(value: int) -> datetime:
    return from_ms(value)


class ChannelAdapter(ABC, Generic[P]):
    """Parse → verify → translate. ``parse`` only validates shape and finds the receiving
    accounts (needed to pick the signing secret); nothing acts on a payload before ``verify``."""

    channel: Channel
    payload_model: type[P]
    handshake_supported = False

    def parse(self, raw: bytes) -> P:
        try:
            return self.payload_model.model_validate_json(raw)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)[:10]
            ]
            raise MalformedPayloadError(
                f"{self.channel.value} payload is not valid", details={"errors": errors}
            ) from exc

    @abstractmethod
    def account_ids(self, payload: P) -> set[str]:
        """The receiving accounts named by the payload (a Page id, a LINE bot id, …)."""

    @abstractmethod
    def verify(
        self, raw: bytes, headers: Mapping[str, str], secret: str, connection: ChannelConnection
    ) -> bool:
        """Constant-time check of the signature over the exact raw bytes. Headers: lowercased.
        ``connection.options`` carries non-secret signing inputs some channels need."""

    @abstractmethod
    def commands(
        self, payload: P, connections: Mapping[str, ChannelConnection] | None = None
    ) -> list[ChannelCommand]:
        """One channel-neutral command per event. ``connections`` (by account id) gives the
        verified connections, for channels whose translation needs their options."""

    def message_command(
        self,
        *,
        outbound: bool,
        account_id: str,
        customer_id: str,
        channel_message_id: str,
        sent_at: datetime,
        text: str | None,
        attachments: tuple[Attachment, ...],
        customer_name: str | None = None,
    ) -> ChannelCommand:
        """A message in either direction: the shop's own (never a ticket) or the customer's."""
        if outbound:
            return OutboundMessageSeen(
                channel=self.channel,
                account_id=account_id,
                customer_id=customer_id,
                channel_message_id=channel_message_id,
                sent_at=sent_at,
                text=text,
                attachments=attachments,
            )
        return CustomerMessageReceived(
            channel=self.channel,
            account_id=account_id,
            customer_id=customer_id,
            channel_message_id=channel_message_id,
            sent_at=sent_at,
            text=text,
            attachments=attachments,
            customer_name=customer_name,
        )

    def acknowledgement(self, summary: Mapping[str, Any]) -> str:
        """The 200 body. Most channels ignore it: a JSON summary helps whoever debugs."""
        return json.dumps(summary)

    def handshake(self, query: Mapping[str, str], verify_token: str | None) -> str | None:
        """GET verification: the challenge to echo, or None to refuse."""
        return None


class HexSignedAdapter(ChannelAdapter[P]):
    """Channels that sign with a hex HMAC-SHA256 in ``Authorization`` over bytes whose exact
    composition is documented inconsistently (channels.md [uncertain]): each connection picks a
    variant in ``options["signature_variant"]``. A signature that only matches another variant
    is logged (to help setting up a connection) and still refused."""

    signature_variants: tuple[str, ...]
    default_variant: str

    @abstractmethod
    def signed_bytes(self, variant: str, raw: bytes, connection: ChannelConnection) -> bytes | None:
        """What the variant signs, or None when the connection lacks what it needs."""

    def _signature(
        self, variant: str, raw: bytes, secret: str, connection: ChannelConnection
    ) -> bytes | None:
        signed = self.signed_bytes(variant, raw, connection)
        return None if signed is None else hmac_sha256(secret, signed).hex().encode()

    def verify(
        self, raw: bytes, headers: Mapping[str, str], secret: str, connection: ChannelConnection
    ) -> bool:
        variant = connection.options.get("signature_variant", self.default_variant)
        if variant not in self.signature_variants:
            logger.warning(
                "unknown signature_variant", extra={"channel": self.channel, "variant": variant}
            )
            return False
        received = headers.get("authorization", "").strip().lower().encode()
        expected = self._signature(variant, raw, secret, connection)
        if expected is not None and hmac.compare_digest(expected, received):
            return True
        for other in self.signature_variants:
            candidate = self._signature(other, raw, secret, connection)
            if other != variant and candidate and hmac.compare_digest(candidate, received):
                logger.warning(
                    "signature matches another variant than configured",
                    extra={"channel": self.channel, "configured": variant, "matches": other},
                )
        return False
