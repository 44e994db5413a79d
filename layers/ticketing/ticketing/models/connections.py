"""Requests and responses of the channel-connection management API (workspace admins)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ticketing.models.records import Channel, ChannelConnection, ConnectionStatus

# Where signing secrets may live: the functions' IAM policies allow exactly these prefixes.
SecretRef = Annotated[
    str,
    Field(
        pattern=r"^(ssm:/ticket-engine/[\w/.-]+|secretsmanager:ticket-engine/[\w/.+=@-]+|local:[\w.-]+)$",
        description="ssm:/ticket-engine/…, secretsmanager:ticket-engine/… or local:<name>. "
        "A reference, never the secret itself.",
        examples=["ssm:/ticket-engine/line/U123/channel-secret"],
    ),
]
# Keys become DynamoDB map keys, which may not be empty (DynamoDB refuses the write: was a 503).
OptionKey = Annotated[str, Field(min_length=1, max_length=128)]
Options = Annotated[dict[OptionKey, Annotated[str, Field(max_length=2048)]], Field(max_length=20)]


class ConnectChannelCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    account_id: str = Field(min_length=1, max_length=128, pattern=r"^[^#\s]+$")
    display_name: str = Field(default="", max_length=200)
    secret_ref: SecretRef
    options: Options = Field(default_factory=dict)


class UpdateConnectionCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=200)
    secret_ref: SecretRef | None = None
    options: Options | None = None
    status: ConnectionStatus | None = None


class ConnectionResponse(BaseModel):
    channel: Channel
    account_id: str
    display_name: str
    secret_ref: str
    status: ConnectionStatus
    options: dict[str, str]

    @classmethod
    def of(cls, connection: ChannelConnection) -> ConnectionResponse:
        return cls(
            channel=connection.channel,
            account_id=connection.account_id,
            display_name=connection.display_name,
            secret_ref=connection.secret_ref,
            status=connection.status,
            options=connection.options,
        )


class ConnectionListResponse(BaseModel):
    items: list[ConnectionResponse]
    next_cursor: str | None = None
