"""Seed sources and how rows are taken from them (sampling and selection strategies)."""

from __future__ import annotations

import glob
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ddbuild.errors import SeedError

if TYPE_CHECKING:
    import pandas as pd

SEED_FILE_SUFFIXES = (".parquet", ".csv", ".json", ".jsonl")


class SamplingStrategy(str, Enum):
    ORDERED = "ordered"
    SHUFFLE = "shuffle"  # seeded by the config's ``seed``: reproducible


class IndexRange(BaseModel):
    """Rows ``start`` through ``end`` of the seed, both inclusive (Data Designer's convention)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    selection_type: Literal["index_range"] = "index_range"
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IndexRange:
        if self.start > self.end:
            raise ValueError(f"start ({self.start}) must not exceed end ({self.end})")
        return self


class PartitionBlock(BaseModel):
    """Partition ``index`` of ``num_partitions`` equal blocks; the last absorbs the remainder."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    selection_type: Literal["partition_block"] = "partition_block"
    index: int = Field(default=0, ge=0)
    num_partitions: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> PartitionBlock:
        if self.index >= self.num_partitions:
            raise ValueError(f"index ({self.index}) must be less than num_partitions ({self.num_partitions})")
        return self


SelectionStrategy = Annotated[Union[IndexRange, PartitionBlock], Field(discriminator="selection_type")]


def resolve_seed_files(path: str | Path, base_dir: Path | None = None) -> list[Path]:
    """The files a seed path names (a file, a directory of parquet, or a glob), sorted.

    Raises SeedError naming the path when nothing matches or a file has an unsupported type.
    """
    text = str(path)
    candidate = Path(text).expanduser()
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(candidate)) if Path(p).is_file())
        if not files:
            raise SeedError(
                f"Seed glob '{text}' matched no files.",
                hint="Check the pattern and the working directory.",
            )
    elif candidate.is_dir():
        files = sorted(p for p in candidate.iterdir() if p.suffix == ".parquet" and p.is_file())
        if not files:
            raise SeedError(f"Seed directory '{text}' contains no .parquet files.")
    elif candidate.is_file():
        files = [candidate]
    else:
        raise SeedError(f"Seed file '{text}' does not exist.", hint="Check the path and the working directory.")
    for file in files:
        if file.suffix.lower() not in SEED_FILE_SUFFIXES:
            raise SeedError(
                f"Seed file '{file}' has an unsupported type '{file.suffix}'.",
                hint="Use parquet, csv, json or jsonl.",
            )
    return files


class LocalFileSeedSource(BaseModel):
    """A parquet, csv, json or jsonl file, a directory of parquet files, or a glob of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seed_type: Literal["local"] = "local"
    path: str

    def __init__(self, path: str | Path | None = None, **data: Any) -> None:
        if path is not None:
            data["path"] = str(path)
        super().__init__(**data)

    def files(self, base_dir: Path | None = None) -> list[Path]:
        return resolve_seed_files(self.path, base_dir)


class DataFrameSeedSource(BaseModel):
    """An in-memory pandas DataFrame (hashed by content; cannot be written to a config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    seed_type: Literal["df"] = "df"
    _df: Any = PrivateAttr(default=None)

    def __init__(self, df: pd.DataFrame | None = None, **data: Any) -> None:
        super().__init__(**data)
        if df is None:
            raise SeedError(
                "DataFrameSeedSource needs a DataFrame; a config file cannot carry one.",
                hint="Save the frame to parquet and use LocalFileSeedSource(path=...).",
            )
        object.__setattr__(self, "_df", df.copy())

    @property
    def df(self) -> pd.DataFrame:
        return self._df


SeedSource = Annotated[Union[LocalFileSeedSource, DataFrameSeedSource], Field(discriminator="seed_type")]


class SeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    source: SeedSource
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: SelectionStrategy | None = None
