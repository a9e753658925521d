"""Seed sources and how rows are taken from them (sampling and selection strategies)."""

from __future__ import annotations

import glob
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

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


class _FileSystemSeedSource(BaseModel):
    """The files under directory ``path`` whose names match ``file_pattern`` (a glob on the file
    name, case-sensitive; in subdirectories too when ``recursive``): one seed row per file, in the
    order of their relative paths. Keys hold the files' bytes, never their modification times."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    one_row_per_file: ClassVar[bool] = True
    output_columns: ClassVar[tuple[str, ...]] = ("source_kind", "source_path", "relative_path", "file_name")
    source_kind: ClassVar[str] = ""

    path: str
    file_pattern: str = "*"
    recursive: bool = True

    def __init__(self, path: str | Path | None = None, **data: Any) -> None:
        if path is not None:
            data["path"] = str(path)
        super().__init__(**data)

    @field_validator("file_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("file_pattern must be a non-empty glob such as '*.md'")
        if "/" in value or "\\" in value:
            raise ValueError(f"file_pattern {value!r} must match file names, not paths (no '/')")
        return value

    def directory(self, base_dir: Path | None = None) -> Path:
        candidate = Path(self.path).expanduser()
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        if not candidate.is_dir():
            raise SeedError(
                f"{type(self).__name__} path '{self.path}' is not a directory.",
                hint="Point path at the directory that holds the files (relative to the working directory).",
            )
        return candidate

    def files(self, base_dir: Path | None = None) -> list[Path]:
        """The matching files, sorted by their path relative to the directory."""
        import fnmatch

        root = self.directory(base_dir)
        candidates = root.rglob("*") if self.recursive else root.iterdir()
        found = sorted((p for p in candidates if p.is_file() and fnmatch.fnmatchcase(p.name, self.file_pattern)),
                       key=lambda p: p.relative_to(root).as_posix())
        if not found:
            where = "under" if self.recursive else "directly in"
            raise SeedError(f"{type(self).__name__}: no file {where} '{self.path}' matches '{self.file_pattern}'.",
                            hint="Check file_pattern (it matches file names) and recursive.")
        return found


class DirectorySeedSource(_FileSystemSeedSource):
    """One row per file: ``source_kind`` ('directory_file'), ``source_path``, ``relative_path``
    (POSIX) and ``file_name`` (Data Designer's columns)."""

    seed_type: Literal["directory"] = "directory"
    source_kind: ClassVar[str] = "directory_file"


class FileContentsSeedSource(_FileSystemSeedSource):
    """Directory's columns plus ``content``, the file's text decoded with ``encoding``."""

    seed_type: Literal["file_contents"] = "file_contents"
    output_columns: ClassVar[tuple[str, ...]] = (*_FileSystemSeedSource.output_columns, "content")
    source_kind: ClassVar[str] = "file_contents"
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}: use a Python codec name such as 'utf-8'") from None
        return value


class HuggingFaceSeedSource(BaseModel):
    """Files of a dataset on the Hugging Face Hub: ``path`` is ``datasets/<owner>/<name>/<file or
    glob>`` (Data Designer's spelling). Read from the local Hugging Face cache (``HF_HUB_CACHE``,
    else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``) when the dataset is there, else
    downloaded into it with ``huggingface_hub`` (the optional extra ``ddbuild[hf]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seed_type: Literal["hf"] = "hf"
    path: str
    token: str | None = None
    endpoint: str = "https://huggingface.co"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "datasets" or not all(parts):
            raise ValueError(f"path {value!r} must be 'datasets/<owner>/<name>/<file or glob>', "
                             "e.g. 'datasets/my-org/my-dataset/data/*.parquet'")
        return value

    @property
    def repo_id(self) -> str:
        return "/".join(self.path.strip("/").split("/")[1:3])

    @property
    def pattern(self) -> str:
        return "/".join(self.path.strip("/").split("/")[3:])

    def files(self, base_dir: Path | None = None) -> list[Path]:
        """The dataset's matching files in the local cache (downloaded first when missing)."""
        from ddbuild.config.hfhub import dataset_files

        return dataset_files(self)

    def cached_files(self) -> list[Path] | None:
        """The matching files already in the local cache; None when the dataset is not there
        (nothing is fetched: building a config never contacts the hub, as in Data Designer)."""
        from ddbuild.config.hfhub import cached_files

        return cached_files(self)

    def label(self, file: Path) -> str:
        """A file as it enters keys: its path in the dataset (the cache's location is local)."""
        from ddbuild.config.hfhub import repo_file_path

        return f"hf:{self.repo_id}/{repo_file_path(file)}"


SeedSource = Annotated[
    Union[LocalFileSeedSource, DataFrameSeedSource, DirectorySeedSource, FileContentsSeedSource,
          HuggingFaceSeedSource],
    Field(discriminator="seed_type"),
]


class SeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    source: SeedSource
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: SelectionStrategy | None = None
