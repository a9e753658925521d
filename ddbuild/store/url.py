"""open_store: turn a cache location (path or URL) into a Store.

    /path/or/relative/dir                    FileSystemStore on the local disk (no pyarrow import)
    file:///abs/path                         same
    s3://bucket/prefix?endpoint_override=host:port&scheme=http&region=...
                                             FileSystemStore over pyarrow S3FileSystem; credentials
                                             and region from the standard AWS_* variables
    gs://bucket/prefix                       FileSystemStore over pyarrow GcsFileSystem
    http(s)://host[:port]/prefix             HttpStore (credentials from DDBUILD_REMOTE_*)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ddbuild.errors import StoreError
from ddbuild.store.base import Store

_S3_OPTIONS = {"endpoint_override", "scheme", "region", "allow_bucket_creation"}


def _s3(bucket: str, prefix: str, options: dict[str, str]) -> Any:
    from pyarrow import fs

    unknown = set(options) - _S3_OPTIONS
    if unknown:
        raise StoreError(f"unknown s3:// URL option(s) {sorted(unknown)}; known: {sorted(_S3_OPTIONS)}.")
    region = options.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return fs.S3FileSystem(
        region=region or "us-east-1",
        endpoint_override=options.get("endpoint_override"),
        scheme=options.get("scheme", "https"),
        # One PutObject for small entries instead of a three-request multipart upload.
        allow_delayed_open=True,
        allow_bucket_creation=options.get("allow_bucket_creation", "false").lower() == "true",
        connect_timeout=5,
        request_timeout=60,
        # A dead remote must cost seconds, not minutes of retries (LayeredStore then goes local-only).
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=2),
    )


def open_store(location: str | os.PathLike[str], *, mode: int | None = None, remote: bool = False) -> Store:
    """The Store for a local path or an ``s3://``, ``gs://``, ``http(s)://`` or ``file://`` URL.

    ``remote=True`` opens a teammate's remote: reading it never writes to it (see FileSystemStore).
    """
    text = os.fspath(location)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:2] == ":"):  # plain path / C:\...
        from ddbuild.store.fs import FileSystemStore

        return FileSystemStore(Path(parts.path if scheme == "file" else text), mode=mode, remote=remote)
    if scheme in ("http", "https"):
        from ddbuild.store.http import HttpStore

        return HttpStore(text)
    if scheme in ("s3", "gs", "gcs"):
        from ddbuild.store.fs import FileSystemStore

        if not parts.netloc:
            raise StoreError(f"cache URL {text!r} has no bucket; expected {scheme}://bucket/prefix.")
        root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        options = dict(parse_qsl(parts.query))
        clean = f"{scheme}://{root}"
        if scheme == "s3":
            filesystem = _s3(parts.netloc, parts.path, options)
        else:
            from pyarrow import fs

            filesystem = fs.GcsFileSystem(**options)
        return FileSystemStore(root, filesystem, location=clean)
    raise StoreError(
        f"unsupported cache location {text!r}.",
        hint="Use a directory path, s3://bucket/prefix, gs://bucket/prefix or http(s)://host/prefix.",
    )
