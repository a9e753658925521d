"""Target names on the command line -> (workflow, stages) pairs, with "did you mean" errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbuild.cli.buildfile import BuildFile
from ddbuild.errors import TargetError, closest


@dataclass
class Selection:
    """Targets of one workflow; ``stages`` empty means its defaults (every sink; a chain's last stage)."""

    workflow: Any
    stages: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.workflow.name)

    def default_stages(self) -> list[str]:
        """Every stage nothing depends on, as ``Workflow.run`` builds by default."""
        used = {parent for stage in self.workflow.stages for parent in stage.depends_on}
        return [name for name in self.workflow.stage_names if name not in used]

    def resolved_stages(self) -> list[str]:
        return list(self.stages) or self.default_stages()


def all_targets(build: BuildFile) -> list[str]:
    """Every valid target spelling, qualified when the file defines several workflows."""
    several = len(build.workflows) > 1
    out: list[str] = []
    for wf in build.workflows:
        out.extend(f"{wf.name}:{s}" if several else s for s in wf.stage_names)
    return out


def _unknown(name: str, build: BuildFile, commands: Iterable[str]) -> TargetError:
    candidates = all_targets(build)
    bare = sorted({c.split(":", 1)[-1] for c in candidates} | set(build.workflow_names()))
    guess = closest(name, candidates + bare)
    suggestion = f" Did you mean '{guess}'?" if guess else ""
    command = closest(name, list(commands))
    if command and not guess:
        suggestion = f" Did you mean the command '{command}'?"
    listing = ", ".join(candidates) if candidates else "(none: the workflow has no stages)"
    return TargetError(f"Unknown target '{name}'.{suggestion}", hint=f"Targets: {listing}.")


def _resolve_one(name: str, build: BuildFile, commands: Iterable[str]) -> tuple[Any, str | None]:
    if ":" in name:
        wf_name, _, stage = name.partition(":")
        try:
            wf = build.workflow(wf_name)
        except KeyError:
            raise _unknown(name, build, commands) from None
        if not stage:
            return wf, None
        if stage not in wf.stage_names:
            raise _unknown(name, build, commands)
        return wf, stage
    owners = [wf for wf in build.workflows if name in wf.stage_names]
    if len(owners) == 1:
        return owners[0], name
    if len(owners) > 1:
        spelled = ", ".join(f"{wf.name}:{name}" for wf in owners)
        raise TargetError(
            f"Target '{name}' is a stage of several workflows.", hint=f"Write one of: {spelled}."
        )
    if name in build.workflow_names():
        return build.workflow(name), None
    raise _unknown(name, build, commands)


def resolve(names: Sequence[str], build: BuildFile, commands: Iterable[str] = ()) -> list[Selection]:
    """Group targets by workflow, in build-file order. No names = the first workflow's sinks."""
    if not names:
        return [Selection(build.workflows[0])]
    chosen: dict[int, Selection] = {}
    for name in names:
        wf, stage = _resolve_one(name, build, commands)
        selection = chosen.setdefault(id(wf), Selection(wf))
        for target in [stage] if stage is not None else selection.default_stages():
            if target not in selection.stages:
                selection.stages.append(target)
    order = {id(wf): i for i, wf in enumerate(build.workflows)}
    return sorted(chosen.values(), key=lambda s: order[id(s.workflow)])
