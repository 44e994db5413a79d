"""Secret references → values, through Powertools Parameters (cached, ``max_age`` seconds).

A reference names its store: ``ssm:/ticket-engine/line/<id>`` (SSM SecureString),
``secretsmanager:ticket-engine/meta`` (Secrets Manager) or ``local:<name>`` (the local stack's JSON
file named by LOCAL_SECRETS_FILE; see README). Values are never logged.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from ticketing.config import get_settings
from ticketing.errors import ConfigurationError


class LocalSecretsProvider(BaseProvider):
    """The local stack's secret store: a JSON object {name: value} in a file."""

    def __init__(self, path: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"local secrets file unreadable: {self._path}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError("local secrets file must hold a JSON object")
        return data

    def _get(self, name: str, **sdk_options: Any) -> str:
        value = self._read().get(name)
        if not isinstance(value, str):
            raise ConfigurationError(f"local secret {name!r} is not defined")
        return value

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        return {k: v for k, v in self._read().items() if k.startswith(path)}


@lru_cache(maxsize=4)
def _local_provider(path: str) -> LocalSecretsProvider:
    return LocalSecretsProvider(path)


def resolve_secret(ref: str) -> str:
    scheme, _, name = ref.partition(":")
    if not name:
        raise ConfigurationError(
            "secret reference must look like scheme:name", details={"ref": ref}
        )
    max_age = get_settings().secrets_max_age_seconds
    if scheme == "local":
        path = get_settings().local_secrets_file
        if not path:
            raise ConfigurationError("LOCAL_SECRETS_FILE is not set for a local: secret")
        try:
            return str(_local_provider(path).get(name, max_age=max_age))
        except GetParameterError as exc:
            # Powertools wraps whatever _get raises; surface our own error, not its wrapper
            if isinstance(exc.__context__, ConfigurationError):
                raise exc.__context__ from None
            raise ConfigurationError("local secret unavailable", details={"ref": ref}) from exc
    from aws_lambda_powertools.utilities import parameters

    if scheme == "ssm":
        return str(parameters.get_parameter(name, decrypt=True, max_age=max_age))
    if scheme == "secretsmanager":
        return str(parameters.get_secret(name, max_age=max_age))
    raise ConfigurationError("unknown secret store", details={"scheme": scheme})
