"""Up-to-date stamps: what an all-hit plan depended on, and the cheap check that none of it changed.

A stamp is ``<cache>/stamps/<name>.json``, ``name`` a digest of (absolute build file, targets,
``--cache`` as typed). It is written by the normal path (``ddbuild.cli.stampwrite``) only when a
plan of exactly those targets was all HIT from the local cache, and read by the fast path
(``ddbuild.cli.fastpath``) before anything heavy is imported. ``check`` is an ordered checklist,
cheapest first; the first fact that differs is the reason the fast path steps aside:

    0. the load did something unobservable       -> "ddfile.py imports pyarrow (...): it is always loaded"
    1. format, ddbuild version, Python, sys.path -> "ddbuild or Python changed"
    2. the build file's bytes (xxh3_128)         -> "ddfile.py changed"
    3. pyproject.toml's bytes ([tool.ddbuild])   -> "pyproject.toml changed"
    4. env vars the load read, DDBUILD_* vars    -> "environment variable X changed"
    5. project-local modules' bytes              -> "helper.py changed"
    6. other module files, files the load opened
       or probed, root seed files: (size,
       mtime_ns[, inode])                        -> "seeds.csv changed"
    7. directories the load listed (names), the
       importable names in each sys.path dir     -> "directory D changed"
    8. each stage's entry and output blobs exist
       with the recorded stat                    -> "cache entry of stage 'S' changed"
    9. each view file: size + mtime_ns           -> "view file F changed"

Facts about the load (1-7) are the ones taken when the load ended (``ddbuild.cli.loadwatch``).

Env values are kept as blake2b digests, never as text (a build file may read an API key).
This module imports nothing heavy: os, json, hashlib, xxhash and the cache layout only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ddbuild.store.layout import CacheLayout

FORMAT = 2
# Switches of the fast path itself: they never change what a build would do.
CONTROL_ENV = ("DDBUILD_NO_FASTPATH", "DDBUILD_DEBUG_FASTPATH")
ENV_PREFIX = "DDBUILD_"
IMPORT_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".zip", ".egg", ".egg-link", ".dist-info", ".egg-info")


def stamp_path(cache: Path, build_file: Path, targets: Sequence[str], cache_flag: str | None) -> Path:
    """Where the stamp for this build file, these targets and this ``--cache`` lives."""
    ident = json.dumps([str(build_file), list(targets), cache_flag])
    return CacheLayout(cache).stamp(hashlib.blake2b(ident.encode(), digest_size=16).hexdigest())


def runtime() -> dict[str, str]:
    from ddbuild._version import __version__

    return {"ddbuild": __version__, "python": sys.version, "prefix": sys.prefix}


def env_digest(value: str | None) -> str | None:
    return None if value is None else hashlib.blake2b(value.encode("utf-8", "surrogateescape"),
                                                      digest_size=16).hexdigest()


def ddbuild_env(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Every DDBUILD_* variable (settings, signing key), digested; the fast-path switches excluded."""
    return {k: env_digest(v) for k, v in sorted(environ.items())
            if k.startswith(ENV_PREFIX) and k not in CONTROL_ENV}


def whole_env(environ: Mapping[str, str]) -> str | None:
    return env_digest(json.dumps(sorted((k, v) for k, v in environ.items() if k not in CONTROL_ENV)))


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """xxh3_128 of a (small) file's bytes; None when it cannot be read."""
    import xxhash

    try:
        with open(path, "rb") as handle:
            return xxhash.xxh3_128_hexdigest(handle.read())
    except OSError:
        return None


def stat_sig(path: str | os.PathLike[str], *, inode: bool = False) -> list[int] | None:
    """(size, mtime_ns[, inode]): the stat cache's notion of "unchanged"; None when absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino] if inode else [st.st_size, st.st_mtime_ns]


def search_path(entries: Sequence[Any]) -> list[str]:
    """sys.path as absolute directories ('' is the working directory, as the import system reads it)."""
    return [os.path.abspath(p) if p else os.getcwd() for p in entries if isinstance(p, str)]


def probe_sig(path: str | os.PathLike[str]) -> Any:
    """What an existence probe (``Path.exists()``, ``os.path.isfile()``) saw: a file's (size,
    mtime_ns), ``"dir"`` for a directory (its mtime moves whenever anything inside changes), None
    when absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return [st.st_size, st.st_mtime_ns]


def import_names(directory: str) -> str | None:
    """Digest of the names in a sys.path directory that can change what an import finds (modules,
    regular packages, ``.pth`` files, ``*.dist-info``: an install, upgrade or new shadowing module).
    Other directories (``artifacts/``, data) are left out: at most namespace packages, which never
    shadow a module found later on the path."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith(".") and (
                e.name.endswith(IMPORT_SUFFIXES) or (e.name.isidentifier() and e.is_dir()
                                                     and os.path.isfile(os.path.join(e.path, "__init__.py")))))
    except OSError:
        return None
    return env_digest("\n".join(names))


def listing_digest(path: str | os.PathLike[str]) -> str | None:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return None
    return env_digest("\n".join(names))


def read(path: Path) -> dict[str, Any] | None:
    """The stamp at ``path``, or None when it is missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _name(path: str, build_dir: str) -> str:
    """A path as the reason shows it: relative to the build file's directory when inside it."""
    try:
        rel = os.path.relpath(path, build_dir)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def check(stamp: dict[str, Any], environ: Mapping[str, str], *, need_views: bool) -> str | None:
    """None when every recorded fact still holds; else why not (the first difference found).

    ``need_views``: a build must also find every view file it would otherwise restore.
    """
    build_dir = os.path.dirname(stamp["build_file"]["path"])

    def named(path: str) -> str:
        return _name(path, build_dir)

    # 0. a load that cannot be trusted to repeat (ddbuild.cli.opaque): the build file is always loaded
    if stamp.get("opaque"):
        return f"{stamp['opaque'][0]}: it is always loaded"
    # 1. the program that decided, and where it finds modules
    if stamp.get("runtime") != runtime():
        return "ddbuild or Python changed"
    if stamp["sys_path"] != search_path(sys.path):
        return "the module search path changed (sys.path, PYTHONPATH)"
    # 2. the build file itself
    if file_digest(stamp["build_file"]["path"]) != stamp["build_file"]["digest"]:
        return f"{named(stamp['build_file']['path'])} changed"
    # 3. [tool.ddbuild]: cache location and remote settings
    if file_digest(os.path.join(build_dir, "pyproject.toml")) != stamp.get("pyproject"):
        return "pyproject.toml changed"
    # 4. the environment the load read, and ddbuild's own variables
    if stamp.get("env_all") is not None and whole_env(environ) != stamp["env_all"]:
        return "the environment changed (the build file enumerated it)"
    for name, digest in stamp["env"].items():
        if env_digest(environ.get(name)) != digest:
            return f"environment variable {name} changed"
    if ddbuild_env(environ) != stamp["ddbuild_env"]:
        return "a DDBUILD_* environment variable changed"
    # 5. project-local modules, by content
    for path, digest in stamp["local_modules"].items():
        if file_digest(path) != digest:
            return f"{named(path)} changed"
    # 6. everything else by stat: modules, files the load read or probed, root seeds (with inode)
    for group in ("module_files", "opened_files"):
        for path, sig in stamp[group].items():
            if stat_sig(path) != sig:
                return f"{named(path)} changed"
    for path, sig in stamp["probed"].items():
        if probe_sig(path) != sig:
            return f"{named(path)} changed (the build file checked it while loading)"
    for path, sig in stamp["seed_files"].items():
        if stat_sig(path, inode=True) != sig:
            return f"seed file {named(path)} changed"
    # 7. directories the load listed (a glob that would now match another file), and the names in
    #    every sys.path directory (a package installed, upgraded, or a module that now shadows one)
    for path, digest in stamp["listed_dirs"].items():
        if listing_digest(path) != digest:
            return f"directory {named(path)} changed"
    for path, digest in stamp["path_listings"].items():
        if import_names(path) != digest:
            return f"modules or packages in {named(path)} changed"
    # 8. every stage's entry and output blobs, still in the local cache as recorded
    for stage in stamp["stages"]:
        for path, sig in stage["cache_files"].items():
            if stat_sig(path) != sig:
                return f"cache entry of stage '{stage['name']}' changed"
    # 9. the views a build would restore
    views = stamp.get("views")
    if need_views and views is None:
        return "the stamp was written by a plan, not a build (views unchecked)"
    for path, sig in (views or {}).items():
        if stat_sig(path) != sig:
            return f"view file {named(path)} changed"
    return None
