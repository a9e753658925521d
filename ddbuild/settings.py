"""Settings a build reads (BuildSettings), and the cache settings' one resolver: explicit > env > pyproject > default.

    explicit argument          DataDesigner(cache=, remote=, remote_upload=, require_signed=, executor=) / CLI flags
    environment                DDBUILD_CACHE, DDBUILD_REMOTE, DDBUILD_REMOTE_UPLOAD=1, DDBUILD_REQUIRE_SIGNED=1,
                               DDBUILD_EXECUTOR
    ./pyproject.toml           [tool.ddbuild] cache = "...", remote = "...", remote_upload = true, require_signed = true,
                               executor = "ray"
    default                    .ddbuild/cache in the working directory; no remote; the local executor

The signing key comes only from ``DDBUILD_SIGNING_KEY`` and further accepted keys (rotation) only
from ``DDBUILD_TRUSTED_KEYS`` (secrets never belong in a project file); both are kept out of ``repr``. Relative paths are relative to the working directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from ddbuild.config.models import ModelConfig, ModelProvider
    from ddbuild.config.run_config import RunConfig
    from ddbuild.engine.secret_resolver import SecretResolver
    from ddbuild.store.base import Store

CACHE_ENV = "DDBUILD_CACHE"
REMOTE_ENV = "DDBUILD_REMOTE"
REMOTE_UPLOAD_ENV = "DDBUILD_REMOTE_UPLOAD"
REQUIRE_SIGNED_ENV = "DDBUILD_REQUIRE_SIGNED"
EXECUTOR_ENV = "DDBUILD_EXECUTOR"
DEFAULT_CACHE = Path(".ddbuild") / "cache"
DEFAULT_ARTIFACTS = Path("artifacts")
PYPROJECT_KEYS = ("cache", "remote", "remote_upload", "require_signed", "executor")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class CacheSettings:
    """Where the cache lives and how a remote is used; ``sources`` says where each value came from."""

    cache: Path  # absolute local cache directory (partials, index, locks and views' blobs live here)
    remote: str | None = None  # URL, or an absolute path for a directory remote
    remote_upload: bool = False
    require_signed: bool = False
    signing_key: bytes | None = field(default=None, repr=False)
    trusted_keys: tuple[bytes, ...] = field(default=(), repr=False)  # accepted besides signing_key
    executor: str = "local"  # where batches run: local, ray, ray://host:port (execution.executors)
    sources: dict[str, str] = field(default_factory=dict, compare=False)  # "argument"/"env"/"pyproject"/"default"


def _default_run_config() -> RunConfig:
    from ddbuild.config.run_config import RunConfig  # pydantic: not on the CLI's fast path

    return RunConfig()


@dataclass(frozen=True)
class BuildSettings:
    """Everything a workflow reads from its designer, as one value: the designer makes and replaces
    it (set_run_config), a workflow asks for the current one at each plan/run (DESIGN §7: the two
    share this object and neither imports the other)."""

    cache_settings: CacheSettings
    artifact_path: Path = DEFAULT_ARTIFACTS  # views go to <artifact_path>/<workflow>; relative to the cwd
    run_config: RunConfig = field(default_factory=_default_run_config)
    model_providers: list[ModelProvider] | None = None
    default_model_configs: list[ModelConfig] = field(default_factory=list)  # for builders that declare none
    # Resolves the providers' api_key references; None: Data Designer's default (env, then plain text).
    # Never part of a key: the same config with another resolver is the same data.
    secret_resolver: SecretResolver | None = None


def resolve_build_settings(
    cwd: Path | None = None, *, artifact_path: str | os.PathLike[str] | None = None,
    model_providers: list[ModelProvider] | None = None, cache: str | os.PathLike[str] | None = None,
    remote: str | None = None, remote_upload: bool | None = None, require_signed: bool | None = None,
    executor: str | None = None,
    secret_resolver: SecretResolver | None = None,
) -> BuildSettings:
    """A designer's settings, for ``DataDesigner(...)`` and a Workflow made without one alike: the
    cache settings by ``resolve_settings``; the providers given, else the user's
    ``model_providers.yaml`` or Data Designer's predefined ones; the default model configs."""
    from ddbuild.engine.llm.catalogue import default_model_configs, runtime_providers

    return BuildSettings(
        cache_settings=resolve_settings(cwd, cache=cache or None, remote=remote, remote_upload=remote_upload,
                                        require_signed=require_signed, executor=executor),
        artifact_path=Path(artifact_path) if artifact_path is not None else DEFAULT_ARTIFACTS,
        model_providers=list(model_providers) if model_providers else runtime_providers(),
        default_model_configs=default_model_configs(),
        secret_resolver=secret_resolver,
    )


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{where}: expected a boolean (1/0, true/false), got {value!r}.")


def read_pyproject(cwd: Path) -> dict[str, Any]:
    """The ``[tool.ddbuild]`` table of ``cwd/pyproject.toml`` ({} without one), keys checked."""
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: the backport (a dependency there, see pyproject.toml)
        import tomli as tomllib

    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("ddbuild", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.ddbuild]: {exc}.") from exc
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.ddbuild] must be a table.")
    for key in table:
        if key not in PYPROJECT_KEYS:
            raise ConfigError(f"{path}: unknown [tool.ddbuild] key '{key}'.{did_you_mean(key, PYPROJECT_KEYS)}",
                              hint=f"Known keys: {', '.join(PYPROJECT_KEYS)}.")
    return table


def _location(value: str | os.PathLike[str], cwd: Path) -> str:
    text = os.fspath(value)
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else cwd / path)


def resolve_settings(
    cwd: Path | None = None, *, cache: str | os.PathLike[str] | None = None, remote: str | None = None,
    remote_upload: bool | None = None, require_signed: bool | None = None, executor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CacheSettings:
    """Resolve every cache setting once; ``None`` arguments fall through to env, pyproject, default."""
    cwd = (cwd or Path.cwd()).absolute()
    env = os.environ if environ is None else environ
    project = read_pyproject(cwd)
    sources: dict[str, str] = {}

    def pick(name: str, given: Any, env_name: str, default: Any) -> Any:
        if given is not None:
            sources[name] = "argument"
            return given
        if env.get(env_name, "") != "":
            sources[name] = "env"
            return env[env_name]
        if name in project:
            sources[name] = "pyproject"
            return project[name]
        sources[name] = "default"
        return default

    cache_value = pick("cache", cache, CACHE_ENV, DEFAULT_CACHE)
    if "://" in os.fspath(cache_value) and not os.fspath(cache_value).startswith("file://"):
        raise ConfigError(f"cache {os.fspath(cache_value)!r} is a URL; the cache must be a local or shared directory.",
                          hint="Use it as the remote instead: remote=URL (DDBUILD_REMOTE).")
    remote_value = pick("remote", remote, REMOTE_ENV, None)
    upload = _flag(pick("remote_upload", remote_upload, REMOTE_UPLOAD_ENV, False), "remote_upload")
    signed = _flag(pick("require_signed", require_signed, REQUIRE_SIGNED_ENV, False), "require_signed")
    executor_value = str(pick("executor", executor, EXECUTOR_ENV, "local"))
    cache_path = Path(_location(os.fspath(cache_value).removeprefix("file://"), cwd))
    signing_key, trusted_keys = _keys(env)
    return CacheSettings(
        cache=cache_path, remote=_location(remote_value, cwd) if remote_value else None,
        remote_upload=upload, require_signed=signed, signing_key=signing_key, trusted_keys=trusted_keys,
        executor=executor_value, sources=sources,
    )


def _keys(env: Mapping[str, str]) -> tuple[bytes | None, tuple[bytes, ...]]:
    """(signing key, extra trusted keys), read by the store; imported only when one is set, so that
    resolving settings (the no-op fast path does, before anything heavy) does not import the whole
    store package. Lookups, never a walk of env: a load that iterates os.environ ties its stamp to
    every variable."""
    if not env.get("DDBUILD_SIGNING_KEY") and not env.get("DDBUILD_TRUSTED_KEYS"):  # store.entry's names
        return None, ()
    from ddbuild.store.entry import signing_key_from_env, trusted_keys_from_env

    return signing_key_from_env(env), trusted_keys_from_env(env)


def open_cache(settings: CacheSettings) -> Store:
    """The build's Store: the local FileSystemStore, with the remote (if any) layered behind it."""
    from ddbuild.store.fs import FileSystemStore

    local = FileSystemStore(settings.cache)
    if not settings.remote:
        return local
    from ddbuild.store.layered import LayeredStore
    from ddbuild.store.url import open_store

    return LayeredStore(local, open_store(settings.remote, remote=True), upload=settings.remote_upload,
                        signing_key=settings.signing_key, require_signed=settings.require_signed,
                        trusted_keys=settings.trusted_keys)
