"""The analysis of a cache entry's selected output, read from a Store (what ``ddbuild report`` shows).

The same inputs give the same cached analysis as ``results.load_analysis()`` on that stage when
the selected output is the stage's dataset (``parquet-files``): the files are named the same
way, with the same column types and recorded LLM usage. Blobs are fetched (and verified by the
store) only when the analysis is not cached yet.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.analysis import SEED_COLUMN, AnalysisCache, analysis_of, column_types_from_identity
from ddbuild.analysis.model import DatasetAnalysis
from ddbuild.errors import ArtifactError

if TYPE_CHECKING:
    from ddbuild.store.base import Store

METADATA_LIMIT = 4 * 1024 * 1024  # a run's metadata.json is a few KB


def entry_analysis(store: Store, entry: Mapping[str, Any], cache_dir: Path | None) -> DatasetAnalysis:
    """Profile of ``entry``'s selected output (cached under the entry's stage key)."""
    digest_of = {o["path"]: o["digest"] for o in entry["outputs"]}
    selected = entry["selected_output"]
    files = [(rel, digest_of[rel]) for rel in selected["paths"]]
    main_dataset = selected.get("root") == "parquet-files"
    seeded = (entry["identity"].get("stage") or {}).get("seed") is not None
    types = column_types_from_identity(entry["identity"]) if main_dataset else {}
    other = SEED_COLUMN if (main_dataset and seeded) else "general"
    metadata = _metadata(store, digest_of.get("metadata.json")) if main_dataset else {}
    llm_stats = metadata.get("llm_usage") if isinstance(metadata.get("llm_usage"), dict) else {}
    target = metadata.get("target_num_records") if isinstance(metadata.get("target_num_records"), int) else None

    with tempfile.TemporaryDirectory(prefix="ddbuild-analysis-") as scratch:
        def open_files() -> list[Path]:
            paths = []
            for i, (rel, digest) in enumerate(files):
                local = Path(scratch) / f"{i:05d}.parquet"
                if not store.get_blob(digest, local):
                    raise ArtifactError(f"Output blob of {rel} (stage '{entry['stage']}') is missing from the cache.",
                                        hint="Build the target again.")
                paths.append(local)
            return paths

        return analysis_of(files, open_files, cache=AnalysisCache.in_cache(cache_dir), key=entry["key"],
                           column_types=types, other_columns=other, llm_stats=llm_stats,
                           target_num_records=target)


def _metadata(store: Any, digest: str | None) -> dict[str, Any]:
    """The run's metadata.json from its blob; {} when absent or unreadable (it only adds facts)."""
    if digest is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="ddbuild-analysis-") as scratch:
        local = Path(scratch) / "metadata.json"
        try:
            if not store.get_blob(digest, local) or local.stat().st_size > METADATA_LIMIT:
                return {}
            data = json.loads(local.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
    return data if isinstance(data, dict) else {}
