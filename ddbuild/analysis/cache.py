"""Where computed analyses are kept: ``<cache>/index/analysis/<ab>/<stage key>-<inputs>.json``.

An analysis is derived data: a pure function of the analysed files' bytes and the facts given
with them (column types, recorded LLM usage). Its name is the stage key (``dataset`` for a
``DataDesigner.create`` result) plus a digest of those inputs, so a second call or a second
process reads it instead of profiling again, and any change to the inputs is a miss. Like the
other files under ``index/`` it is local and disposable: deleting it only costs a recomputation.
A file that is unreadable, too large or malformed is a miss (logged), never an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ddbuild.analysis.model import FORMAT_VERSION, AnalysisFormatError, DatasetAnalysis

log = logging.getLogger("ddbuild.analysis")

MAX_BYTES = 8 * 1024 * 1024  # a cached analysis is a few KB per column; anything larger is not ours
NO_KEY = "dataset"


def inputs_digest(files: Sequence[tuple[str, str]], column_types: Mapping[str, str] | None,
                  llm_stats: Mapping[str, Any] | None, target_num_records: int | None) -> str:
    """Digest of everything an analysis is computed from: (path, content digest) per file and the facts."""
    from ddbuild.fingerprint import digest_json

    return digest_json({
        "format": FORMAT_VERSION, "files": [list(f) for f in files], "column_types": dict(column_types or {}),
        "llm_by_column": dict((llm_stats or {}).get("by_column") or {}), "target": target_num_records,
    })


class AnalysisCache:
    """Analyses stored as JSON files below ``root`` (None: nothing is kept)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @classmethod
    def in_cache(cls, cache_dir: Path | str | None) -> AnalysisCache:
        from ddbuild.store.layout import CacheLayout

        return cls(CacheLayout(Path(cache_dir)).analyses if cache_dir is not None else None)

    def path(self, key: str | None, inputs: str) -> Path | None:
        if self.root is None:
            return None
        name = f"{key or NO_KEY}-{inputs}"
        return self.root / (key or inputs)[:2] / f"{name}.json"

    def get(self, key: str | None, inputs: str) -> DatasetAnalysis | None:
        path = self.path(key, inputs)
        if path is None:
            return None
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise AnalysisFormatError(f"larger than {MAX_BYTES} bytes")
            return DatasetAnalysis.from_dict(json.loads(data))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:  # AnalysisFormatError is a ValueError
            log.warning("cached analysis %s is unreadable (%s); computing it again", path, exc)
            return None

    def put(self, key: str | None, inputs: str, analysis: DatasetAnalysis) -> None:
        path = self.path(key, inputs)
        if path is None:
            return
        from ddbuild.atomic import write_json
        from ddbuild.errors import DiskFullError

        try:
            write_json(path, analysis.to_dict(), indent=None, durable=False)
        except (OSError, DiskFullError) as exc:  # a read-only or full cache: the analysis is still returned
            log.warning("could not keep the analysis in %s (%s)", path, exc)

    def get_or_compute(self, key: str | None, inputs: str, compute: Callable[[], DatasetAnalysis]) -> DatasetAnalysis:
        cached = self.get(key, inputs)
        if cached is not None:
            return cached
        analysis = compute()
        self.put(key, inputs, analysis)
        return analysis
