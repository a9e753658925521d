"""Secret resolvers (Data Designer's ``data_designer.engine.secret_resolver`` names): how a provider's
``api_key`` reference becomes the key that is sent.

    EnvironmentResolver      the value of the environment variable named by the reference
    SecretsFileResolver      the value under the reference in a JSON object file ({"NAME": "secret"})
    PlaintextResolver        the reference itself (a key written in the config)
    CompositeResolver        the first of its resolvers that resolves the reference

``DataDesigner(secret_resolver=None)`` uses ``DEFAULT_SECRET_RESOLVER``: environment, then plain
text, as Data Designer 0.9.7 does. Any object with ``resolve(reference) -> str`` that raises
``SecretResolutionError`` when it cannot may be passed instead.

A resolver's error never shows a reference that might be the key itself: only a reference spelled
like a variable name (``NVIDIA_API_KEY``) is named in a message. Resolved values appear nowhere
but in the request's Authorization header (``engine.llm.client``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from ddbuild.config.models import VARIABLE_NAME
from ddbuild.errors import APIKeyError, ModelConfigError, SecretResolutionError

MAX_SECRETS_FILE_BYTES = 1 << 20  # a few names and keys; anything bigger is not a secrets file
_MAX_SHOWN = 64


def shown(reference: str) -> str:
    """``'NAME'`` when ``reference`` is spelled like a variable name (upper case words joined by
    underscores, ``config.models.VARIABLE_NAME``), else words that do not repeat it."""
    if len(reference) <= _MAX_SHOWN and VARIABLE_NAME.fullmatch(reference):
        return repr(reference)
    return "(not shown: it may be the key itself)"


class SecretResolver(Protocol):
    """Turns an ``api_key`` reference into the secret; raises SecretResolutionError when it cannot."""

    def resolve(self, secret: str) -> str: ...


class EnvironmentResolver:
    """The value of the environment variable named ``secret`` (read at each call).

    ``environ``: ddbuild's addition for tests and embedding (default ``os.environ``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def resolve(self, secret: str) -> str:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(secret) if secret and "=" not in secret and "\0" not in secret else None
        if value is None:
            raise APIKeyError(f"Environment variable {shown(secret)} is not set.",
                              hint="Set it in the environment and try again.")
        return value


class SecretsFileResolver:
    """The value under ``secret`` in a JSON file holding one object of names to secrets.

    The file is read once, when the resolver is made; a missing file holds no secrets (as in
    Data Designer)."""

    def __init__(self, filepath: str | os.PathLike[str]) -> None:
        self._path = Path(filepath)
        self._secrets = _read_secrets(self._path)

    def resolve(self, secret: str) -> str:
        if secret not in self._secrets:
            raise APIKeyError(f"Secrets file '{self._path}' has no entry {shown(secret)}.")
        return self._secrets[secret]


class PlaintextResolver:
    """The reference is the secret."""

    def resolve(self, secret: str) -> str:
        return secret


class CompositeResolver:
    """Asks each resolver in turn; the first that resolves wins. Fails naming every failure."""

    def __init__(self, resolvers: Sequence[SecretResolver]) -> None:
        if len(resolvers) == 0:
            raise APIKeyError("CompositeResolver needs at least one resolver.")
        self._resolvers = tuple(resolvers)

    @property
    def resolvers(self) -> Sequence[SecretResolver]:
        return self._resolvers

    def resolve(self, secret: str) -> str:
        errors = []
        for resolver in self._resolvers:
            try:
                return resolver.resolve(secret)
            except SecretResolutionError as exc:
                errors.append(f"{type(resolver).__name__}: {getattr(exc, 'message', None) or exc}")
        raise APIKeyError(f"No resolver could resolve {shown(secret)} ({'; '.join(errors)}).")


DEFAULT_SECRET_RESOLVER = CompositeResolver([EnvironmentResolver(), PlaintextResolver()])


def default_secret_resolver(environ: Mapping[str, str] | None = None) -> SecretResolver:
    """Data Designer's default (environment, then plain text), over ``environ`` when given."""
    if environ is None:
        return DEFAULT_SECRET_RESOLVER
    return CompositeResolver([EnvironmentResolver(environ), PlaintextResolver()])


def _read_secrets(path: Path) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SECRETS_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ModelConfigError(f"Cannot read secrets file '{path}': {exc.strerror or exc}.") from None
    if len(data) > MAX_SECRETS_FILE_BYTES:
        raise ModelConfigError(f"Secrets file '{path}' is larger than {MAX_SECRETS_FILE_BYTES} bytes.")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # The position only: the parser's message quotes no content, and neither do we.
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ModelConfigError(f"Secrets file '{path}' is not valid JSON{where}.",
                               hint='It must hold one object: {"NAME": "secret", ...}.') from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ModelConfigError(f"Secrets file '{path}' must hold one JSON object of names to strings.",
                               hint='For example {"NVIDIA_API_KEY": "nvapi-..."}.')
    return document
