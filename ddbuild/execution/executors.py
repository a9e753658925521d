"""Which executor generates a build's batches: ``local`` (this process) or ``ray`` (a Ray cluster).

    --executor local            default: batches one after the other in this process
    --executor ray              a local Ray instance, or the cluster in RAY_ADDRESS (Ray's convention)
    --executor ray://host:port  the cluster behind that Ray client address

The choice changes where work runs, never what it produces: it is not part of any key, and
``--explain`` plans the same. Parsing imports nothing; Ray is imported only when a build starts
on it (``execution.ray_executor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ddbuild.errors import ConfigError

RAY_ADDRESS_ENV = "RAY_ADDRESS"


class ExecutorKind(str, Enum):
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class ExecutorSpec:
    kind: ExecutorKind = ExecutorKind.LOCAL
    address: str | None = None  # ray://host:port; None: RAY_ADDRESS, else a new local instance

    def __str__(self) -> str:
        return self.address or self.kind.value


LOCAL = ExecutorSpec()


def parse_executor(value: str | ExecutorSpec | None, origin: str = "executor") -> ExecutorSpec:
    """``local``, ``ray`` or ``ray://host:port`` (``origin`` names the option in the error)."""
    if value is None:
        return LOCAL
    if isinstance(value, ExecutorSpec):
        return value
    text = str(value).strip()
    if text.lower() in (ExecutorKind.LOCAL.value, ExecutorKind.RAY.value):
        return ExecutorSpec(ExecutorKind(text.lower()))
    if text.lower().startswith("ray://") and len(text) > len("ray://"):
        return ExecutorSpec(ExecutorKind.RAY, text)
    raise ConfigError(
        f"{origin} = {value!r} is not an executor.",
        hint="Use 'local' (the default), 'ray' (a local Ray instance, or the cluster in RAY_ADDRESS) "
        "or 'ray://host:port' (a Ray cluster's client address).",
    )
