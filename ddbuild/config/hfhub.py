"""Hugging Face Hub datasets as local files: the hub cache's layout, and fetching a dataset into it.

A ``HuggingFaceSeedSource`` reads its files from the local Hugging Face cache, laid out as the hub's
own client lays it out (``<cache>/datasets--<owner>--<name>/refs/main`` holds the revision,
``snapshots/<revision>/`` the files). When the dataset is not there, it is fetched over the hub's
HTTP API (the revision's file list, then each matching file) and written into that layout, so the
next build, and the hub's client, find it. The bytes enter keys as for any seed file.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from ddbuild import atomic
from ddbuild.errors import SeedError

TIMEOUT_S = 30.0


def hub_cache() -> Path:
    """The hub cache directory (the hub client's own environment variables, then its default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def repo_dir(repo_id: str) -> Path:
    return hub_cache() / ("datasets--" + repo_id.replace("/", "--"))


def repo_file_path(file: Path) -> str:
    """A cached file's path inside its dataset (POSIX): what follows ``snapshots/<revision>/``."""
    parts = file.parts
    at = len(parts) - 1 - parts[::-1].index("snapshots")
    return "/".join(parts[at + 2:])


def _matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) or (pattern.startswith("**/") and fnmatch.fnmatchcase(name, pattern[3:]))


def cached_files(source: Any) -> list[Path] | None:
    """The matching files of the cached revision ``refs/main`` names; None when it is not cached."""
    root = repo_dir(source.repo_id)
    ref = root / "refs" / "main"
    if not ref.is_file():
        return None
    snapshot = root / "snapshots" / ref.read_text().strip()
    if not snapshot.is_dir():
        return None
    files = [p for p in snapshot.rglob("*") if p.is_file() and _matches(p.relative_to(snapshot).as_posix(), source.pattern)]
    return sorted(files, key=lambda p: p.relative_to(snapshot).as_posix()) or None


def dataset_files(source: Any) -> list[Path]:
    """The dataset's files matching the source's pattern, fetched into the cache first if needed."""
    files = cached_files(source)
    if files is None:
        _fetch(source)
        files = cached_files(source)
    if not files:
        raise SeedError(
            f"HuggingFaceSeedSource '{source.path}': no file of dataset '{source.repo_id}' matches "
            f"'{source.pattern}'.",
            hint="Check the path: 'datasets/<owner>/<name>/<file or glob>', e.g. 'datasets/org/ds/data/*.parquet'.",
        )
    return files


def _get(url: str, token: str | None, source: Any) -> bytes:
    headers = {"User-Agent": "ddbuild"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urlopen(Request(url, headers=headers), timeout=TIMEOUT_S) as reply:  # noqa: S310 - http(s) only
            return bytes(reply.read())
    except HTTPError as exc:
        what = {401: "needs a token (set token= to an environment variable holding one)",
                403: "refuses this token", 404: "has no such dataset or file"}.get(exc.code, f"answered {exc.code}")
        raise SeedError(f"HuggingFaceSeedSource '{source.path}': the hub at {source.endpoint} {what} ({url}).") from None
    except (URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SeedError(
            f"HuggingFaceSeedSource '{source.path}': the hub at {source.endpoint} cannot be reached ({reason}), "
            f"and dataset '{source.repo_id}' is not in the local cache ({repo_dir(source.repo_id)}).",
            hint="Connect to the network, or put the dataset into the cache where you have access "
            "(e.g. `huggingface-cli download --repo-type dataset <owner>/<name>`), or set HF_HUB_CACHE.",
        ) from None


def _token(source: Any) -> str | None:
    """``token`` is the name of an environment variable holding it (Data Designer's secrets), or the token."""
    if source.token is None:
        return None
    return os.environ.get(source.token, source.token)


def _fetch(source: Any) -> None:
    if not source.endpoint.startswith(("http://", "https://")):
        raise SeedError(f"HuggingFaceSeedSource '{source.path}': endpoint {source.endpoint!r} is not an http(s) URL.")
    token = _token(source)
    base = source.endpoint.rstrip("/")
    repo = quote(source.repo_id)
    try:
        info = json.loads(_get(f"{base}/api/datasets/{repo}/revision/main", token, source))
        revision = str(info["sha"])
        names = [str(s["rfilename"]) for s in info.get("siblings", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise SeedError(f"HuggingFaceSeedSource '{source.path}': the hub's reply is not a dataset's file list: "
                        f"{exc}") from None
    wanted = [n for n in names if _matches(n, source.pattern)]
    root = repo_dir(source.repo_id)
    snapshot = root / "snapshots" / revision
    for name in wanted:
        target = snapshot / name
        if target.is_file():
            continue
        data = _get(f"{base}/datasets/{repo}/resolve/{revision}/{quote(name)}", token, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(target, data)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(root / "refs" / "main", revision.encode())  # last: the snapshot is whole
