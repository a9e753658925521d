"""A stage as declared by add_stage: frozen spec, the checks Data Designer runs at add time, and the
validation of workflow/stage/processor names (which become directory names)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.checks import INVALID_PATH_CHARS, check_name
from ddbuild.config.seeds import SamplingStrategy, SelectionStrategy
from ddbuild.errors import WorkflowError

if TYPE_CHECKING:
    from ddbuild.config.builder import DataDesignerConfigBuilder
    from ddbuild.config.processors import ProcessorConfig
    from ddbuild.planning.joins import Join

OnSuccess = Callable[[Path], "str | Path"]
FINAL = "final"
PROCESSOR_PREFIX = "processor:"


@dataclass(frozen=True)
class Stage:
    name: str
    index: int  # position in add order; not part of the key (fingerprint.EXCLUDED_FIELDS)
    builder: DataDesignerConfigBuilder  # a private copy of the one add_stage was given
    depends_on: tuple[str, ...]
    num_records: int | None  # None: the seed's row count (or 10 without a seed)
    on_success: OnSuccess | None
    on_success_version: str | None
    output_processors: tuple[ProcessorConfig, ...]
    output: str  # "final" or "processor:<name>"
    allow_empty: bool
    sampling_strategy: SamplingStrategy
    selection_strategy: SelectionStrategy | None
    join: Join | None = None
    join_version: str | None = None

    @property
    def dir_name(self) -> str:
        return f"stage-{self.index}-{self.name}"

    @property
    def output_processor(self) -> str | None:
        """The processor named by ``output="processor:<n>"``, else None."""
        return self.output[len(PROCESSOR_PREFIX) :] if self.output.startswith(PROCESSOR_PREFIX) else None


def check_output(output: object) -> str:
    if output == FINAL:
        return FINAL
    if not isinstance(output, str) or not output.startswith(PROCESSOR_PREFIX):
        raise WorkflowError(f"Stage output must be 'final' or 'processor:<name>', got {output!r}.")
    validate_dir_name(output[len(PROCESSOR_PREFIX) :], "processor output name")
    return output


def check_output_processors(
    output_processors: Sequence[ProcessorConfig], stage_processors: Sequence[str]
) -> tuple[ProcessorConfig, ...]:
    names = [p.name for p in output_processors]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise WorkflowError(
            f"Output processor names must be distinct within output_processors: {', '.join(repeated)}."
        )
    clashing = sorted(set(names) & set(stage_processors))
    if clashing:
        raise WorkflowError(
            f"Output processor names must be distinct from stage processor names: {', '.join(clashing)}."
        )
    return tuple(copy.deepcopy(p) for p in output_processors)


def check_selected_processor(
    output: str, stage_processors: Sequence[str], output_processors: Sequence[ProcessorConfig]
) -> None:
    if not output.startswith(PROCESSOR_PREFIX):
        return
    name = output[len(PROCESSOR_PREFIX) :]
    known = [*stage_processors, *(p.name for p in output_processors)]
    if name not in known:
        raise WorkflowError(
            f"Stage output processor '{name}' is not configured on the stage or in output_processors.",
            hint=f"Configured processors: {', '.join(known) or 'none'}.",
        )


def resolve_depends_on(depends_on: str | Sequence[str] | None, existing: Sequence[str], name: str) -> tuple[str, ...]:
    """None → the previously added stage (a linear chain); [] → a root; names must exist already."""
    if depends_on is None:
        return (existing[-1],) if existing else ()
    parents = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
    from ddbuild.errors import TargetError, did_you_mean

    for parent in parents:
        if parent not in existing:
            raise TargetError(
                f"Stage '{name}' depends on unknown stage '{parent}'.{did_you_mean(parent, existing)}",
                hint="Add a stage before the stages that depend on it.",
            )
    if len(set(parents)) != len(parents):
        raise WorkflowError(f"Stage '{name}' lists a parent twice in depends_on: {list(parents)}.")
    return parents


# ---- add_stage's argument types (Data Designer's signature), checked before anything else

def _optional(kind: type | tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda value: value is None or isinstance(value, kind)


def _names(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))


def _processors(value: Any) -> bool:
    from ddbuild.config.processors import DropColumnsProcessorConfig, SchemaTransformProcessorConfig

    kinds = (DropColumnsProcessorConfig, SchemaTransformProcessorConfig)
    return value is None or (isinstance(value, (list, tuple)) and all(isinstance(p, kinds) for p in value))


def _join(value: Any) -> bool:
    from ddbuild.planning.joins import Concat, JoinOn

    return value is None or isinstance(value, (Concat, JoinOn)) or callable(value)


def _builder(value: Any) -> bool:
    from ddbuild.config.builder import DataDesignerConfigBuilder

    return isinstance(value, DataDesignerConfigBuilder)


def _selection(value: Any) -> bool:
    from ddbuild.config.seeds import IndexRange, PartitionBlock

    return value is None or isinstance(value, (IndexRange, PartitionBlock))


def _count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


# argument -> (accepts the value?, what it must be)
_STAGE_ARGUMENTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "config_builder": (_builder, "a DataDesignerConfigBuilder"),
    "num_records": (_count, "a positive int or None"),
    "on_success": (lambda v: v is None or callable(v), "a callable (stage directory -> output path) or None"),
    "on_success_version": (_optional(str), "a str or None"),
    "output_processors": (_processors, "a list of processor configs (DropColumnsProcessorConfig, "
                                       "SchemaTransformProcessorConfig) or None"),
    "output": (lambda v: isinstance(v, str), "a str: 'final' or 'processor:<name>'"),
    "allow_empty": (lambda v: isinstance(v, bool), "True or False"),
    "sampling_strategy": (lambda v: isinstance(v, (SamplingStrategy, str)), "a SamplingStrategy"),
    "selection_strategy": (_selection, "an IndexRange, a PartitionBlock or None"),
    "depends_on": (_names, "a stage name, a list of stage names, or None"),
    "join": (_join, "dd.Concat(), dd.JoinOn(columns=[...]), a callable, or None"),
    "join_version": (_optional(str), "a str or None"),
}


def check_stage_arguments(workflow: str, name: Any, arguments: dict[str, Any]) -> None:
    """WorkflowError naming the workflow, the stage, the argument, its expected type and what it got."""
    if not isinstance(name, str):
        raise WorkflowError(f"Workflow '{workflow}': the stage name must be a str, got {_shown(name)}.",
                            hint="add_stage(name, config_builder, ...): the name comes first.")
    for argument, value in arguments.items():
        accepts, expected = _STAGE_ARGUMENTS[argument]
        if not accepts(value):
            raise WorkflowError(
                f"Workflow '{workflow}', stage '{name}': {argument} must be {expected}, got {_shown(value)}.",
                hint=f"add_stage('{name}', config_builder, *, num_records=None, on_success=None, "
                "on_success_version=None, output_processors=None, output='final', allow_empty=False, "
                "sampling_strategy=SamplingStrategy.ORDERED, selection_strategy=None, depends_on=None, "
                "join=None, join_version=None)",
            )


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# ---- Validation of workflow, stage and processor names, which become directory names

__all__ = ["INVALID_PATH_CHARS", "check_stage_arguments", "validate_dir_name"]


def validate_dir_name(value: object, label: str) -> str:
    """``value`` if it can be a directory name; WorkflowError stating the rule otherwise."""
    return check_name(value, label, directory=True, error=WorkflowError)
