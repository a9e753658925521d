"""The stage DAG: parents, children, closures of targets, descendants, topological order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ddbuild.planning.stage import Stage


@dataclass(frozen=True)
class Graph:
    """Stages in add order. add_stage only links to earlier stages, so add order is topological."""

    stages: tuple[Stage, ...]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def __getitem__(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def children(self, name: str) -> list[str]:
        return [s.name for s in self.stages if name in s.depends_on]

    def closure(self, targets: Iterable[str]) -> list[str]:
        """Targets and all their ancestors, in topological (add) order."""
        wanted: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self[name].depends_on)
        return [n for n in self.names if n in wanted]

    def descendants(self, name: str) -> set[str]:
        """``name`` and every stage reachable from it."""
        found = {name}
        for stage in self.stages:  # add order is topological: one pass suffices
            if any(p in found for p in stage.depends_on):
                found.add(stage.name)
        return found

    def sinks(self) -> list[str]:
        """Stages nothing depends on (the default targets of a DAG)."""
        used = {p for s in self.stages for p in s.depends_on}
        return [n for n in self.names if n not in used]
