"""Where a dataset run puts its files (Data Designer's layout, relative to the dataset dir)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ddbuild.engine.writer import batch_file_name

PARQUET_DIR = "parquet-files"
PROCESSORS_DIR = "processors-files"
DROPPED_DIR = "dropped-columns-parquet-files"
METADATA_FILE = "metadata.json"

OWNED = (PARQUET_DIR, PROCESSORS_DIR, DROPPED_DIR, METADATA_FILE)


class DatasetLayout:
    """Paths of one dataset directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def metadata(self) -> Path:
        return self.root / METADATA_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.root / PARQUET_DIR

    @property
    def processors_dir(self) -> Path:
        return self.root / PROCESSORS_DIR

    def batch(self, index: int) -> Path:
        return self.parquet_dir / batch_file_name(index)

    def side_batch(self, name: str, index: int) -> Path:
        return self.processors_dir / name / batch_file_name(index)

    def dropped_batch(self, index: int) -> Path:
        return self.root / DROPPED_DIR / batch_file_name(index)

    def batch_files(self) -> list[Path]:
        return sorted(self.parquet_dir.glob("batch_*.parquet"))

    def side_names(self) -> list[str]:
        """Names of the processors that wrote side outputs (one folder each), sorted."""
        return sorted(p.name for p in self.processors_dir.glob("*") if p.is_dir())

    def side_files(self, name: str) -> list[Path]:
        return sorted((self.processors_dir / name).glob("batch_*.parquet"))

    def clear(self) -> None:
        """Remove what a run writes (and nothing else the directory holds)."""
        for name in OWNED:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def remove_batch(self, index: int, side_names: list[str]) -> None:
        paths = [self.batch(index), self.dropped_batch(index)] + [self.side_batch(n, index) for n in side_names]
        for path in paths:
            path.unlink(missing_ok=True)
