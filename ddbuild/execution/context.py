"""Everything a build needs from outside: store, directories, run settings, reporter, clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.execution.events import LoggingReporter, Reporter
from ddbuild.planning.statcache import StatCache
from ddbuild.store.base import Store
from ddbuild.store.layout import CacheLayout
from ddbuild.store.verify import BlobVerifier, verifier_for

if TYPE_CHECKING:
    from ddbuild.config.models import ModelProvider
    from ddbuild.config.run_config import RunConfig
    from ddbuild.engine.llm.limits import ModelLimits
    from ddbuild.engine.llm.sessions import SessionPool
    from ddbuild.engine.secret_resolver import SecretResolver
    from ddbuild.planning.stage import Stage
    from ddbuild.store.pins import Pin


def store_dir(store: Store) -> Path:
    """The local directory of ``store`` (its layout's root; the location of one without a directory)."""
    return store.layout.root if store.layout is not None else Path(store.location)


@dataclass
class BuildContext:
    store: Store
    cache_dir: Path  # local: partial/, index/, locks/ live here (``layout``)
    artifact_root: Path  # <artifact_path>/<workflow>
    cwd: Path
    run_config: RunConfig
    model_providers: list[ModelProvider] | None = None
    secret_resolver: SecretResolver | None = None  # API key references; None: Data Designer's default
    reporter: Reporter = field(default_factory=LoggingReporter)
    clock: Callable[[], float] = time.monotonic
    llm_limits: ModelLimits | None = None  # shared by every stage run of this build
    llm_sessions: SessionPool | None = None  # event loops with open connections, lent to its stage runs
    # resume=NEVER (Data Designer's "generate afresh"): stage runs ask the endpoint again instead of
    # reading cached replies; what they receive is still stored (and replaces the cached reply).
    fresh_replies: bool = False
    stat_cache: StatCache | None = None  # the planner's seed digests, reused by stage builds
    pin: Pin | None = None  # while a build runs: what it holds, cache gc keeps
    verifier: BlobVerifier = None  # type: ignore[assignment]  # set in __post_init__ when not given
    executor: Any = None  # execution.ray_executor.RayExecutor while a build runs on Ray; None: local

    def hold(self, *, blobs: Iterable[str] = (), entries: Iterable[str] = ()) -> None:
        """Pin blobs / entries this build is about to store or read (see store/pins.py)."""
        if self.pin is not None:
            self.pin.hold(blobs=blobs, entries=entries)

    def __post_init__(self) -> None:
        if self.verifier is None:
            self.verifier = verifier_for(self.store, self.cache_dir)

    @property
    def layout(self) -> CacheLayout:
        """The paths of the local cache directory (index/, locks/, pins/, ...)."""
        return CacheLayout(self.cache_dir)

    def file_digest(self) -> Callable[[Path], str] | None:
        """Seed-file hashing for the engine: through the stat cache when there is one."""
        return self.stat_cache.digest if self.stat_cache is not None else None

    def stage_view(self, stage: Stage) -> Path:
        return self.artifact_root / stage.dir_name

    def lock_path(self, key: str) -> Path:
        return self.layout.key_lock(key)
