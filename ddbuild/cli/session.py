"""One CLI invocation's world: the build file (we chdir beside it), the cache, the resolved targets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ddbuild.cli.buildfile import BuildFile, load, locate
from ddbuild.cli.options import Options
from ddbuild.cli.targets import Selection, resolve
from ddbuild.errors import TargetError, UsageError

if TYPE_CHECKING:
    from ddbuild.settings import CacheSettings
    from ddbuild.store.base import Store


@dataclass
class Session:
    options: Options
    base: Path  # where relative command-line paths are resolved: -C DIR, else the starting cwd
    build: BuildFile
    store: Store | None = None
    bound: bool = False
    commands: tuple[str, ...] = ()
    _selections: list[Selection] | None = field(default=None, repr=False)
    _settings: CacheSettings | None = field(default=None, repr=False)

    # -- paths ----------------------------------------------------------------------------
    def user_path(self, text: str) -> Path:
        """A path typed on the command line, relative to -C DIR (as make and git do)."""
        path = Path(text).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    def cache(self) -> Store:
        """The Store of this invocation: the one ``bind`` gave the workflows, opened on first use."""
        if self.store is None:
            self.store = open_cache(self)
        return self.store

    def settings(self) -> CacheSettings:
        """Cache settings: command-line flags > env > [tool.ddbuild] in pyproject.toml > default.

        Resolved by ``ddbuild.settings`` relative to the build file's directory; paths typed on
        the command line are first made absolute relative to -C DIR."""
        if self._settings is None:
            from ddbuild.settings import resolve_settings

            opts = self.options
            self._settings = resolve_settings(
                self.build.directory,
                cache=self._typed_location(opts.cache),
                remote=self._typed_location(opts.remote),
                remote_upload=opts.remote_upload,
                require_signed=opts.require_signed,
                executor=opts.executor,
            )
        return self._settings

    def _typed_location(self, raw: str | None) -> str | None:
        if not raw:
            return None
        return raw if "://" in raw else str(self.user_path(raw))

    def cache_flag(self) -> str | None:
        """``--cache`` as typed, made absolute (part of an up-to-date stamp's name)."""
        return self._typed_location(self.options.cache)

    def cache_location(self) -> str:
        return str(self.settings().cache)

    # -- targets --------------------------------------------------------------------------
    def selections(self, targets: tuple[str, ...] | None = None) -> list[Selection]:
        names = self.options.targets if targets is None else targets
        return resolve(list(names), self.build, self.commands)

    def rerun_from_for(self, selection: Selection) -> str | None:
        """``--rerun-from`` applies to the workflow that has that stage (``wf:stage`` allowed)."""
        raw = self.options.rerun_from
        if not raw:
            return None
        wf, _, stage = raw.rpartition(":")
        names = selection.workflow.stage_names
        if (not wf or wf == selection.name) and stage in names:
            return stage
        if not any(stage in w.stage_names for w in self.build.workflows):
            from ddbuild.errors import did_you_mean

            everything = [n for w in self.build.workflows for n in w.stage_names]
            raise TargetError(f"Unknown --rerun-from stage '{raw}'.{did_you_mean(stage, everything)}")
        return None

    def overrides_for(self, selection: Selection) -> dict[str, Path]:
        out: dict[str, Path] = {}
        names = selection.workflow.stage_names
        for item in self.options.overrides:
            target, sep, path = item.partition("=")
            if not sep or not target or not path:
                raise UsageError(f"--override {item!r}: expected STAGE=PATH.")
            wf, _, stage = target.rpartition(":")
            if (not wf or wf == selection.name) and stage in names:
                out[stage] = self.user_path(path)
            elif not any(stage in w.stage_names for w in self.build.workflows):
                raise TargetError(f"Unknown --override stage '{target}'.")
        return out


def open_session(options: Options, commands: tuple[str, ...] = ()) -> Session:
    """Locate and load the build file, chdir to its directory, open the cache, bind workflows."""
    start = Path.cwd()
    base = (start / options.directory).resolve() if options.directory else start
    path = locate(options.file, options.directory)
    os.chdir(path.parent)
    build = load(path)
    session = Session(options=options, base=base, build=build, commands=commands)
    return session


def open_cache(session: Session) -> Store:
    """The Store the build reads and writes: local, with the remote (if configured) layered behind it."""
    from ddbuild.settings import open_cache as open_settings_cache

    return open_settings_cache(session.settings())


def bind(session: Session) -> None:
    """Point every workflow of the build file at the CLI's cache (once per session)."""
    if session.bound:
        return
    store = session.cache()
    for workflow in session.build.workflows:
        workflow.use_store(store, session.settings())
    session.bound = True
