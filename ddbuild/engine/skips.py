"""Conditional skips (Data Designer's ``skip=SkipConfig(when, value)`` and ``propagate_skip``):
which cells of a row are not generated, and what they hold instead.

A cell is skipped, in this order (Data Designer's checklist)::

    1. propagate_skip and a column it reads was skipped in this row  -> skipped
    2. skip.when renders truthy for the row (native value: 0, "", None, False are false)
                                   or fails to render for it        -> skipped (fail-safe: no
                                                                       request for a row whose
                                                                       filter is unknown)
    3. otherwise                                                    -> generated

A skipped cell holds ``skip.value`` (None without a SkipConfig) and sends no request. Which
columns can be skipped at all is decided once per config (``SkipRules.build``), so a config
without skips pays nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ddbuild.errors import TemplateError, TemplateLimitError


@dataclass(frozen=True)
class SkipRule:
    """How one column may be skipped."""

    name: str
    when: Callable[[dict[str, Any]], bool] | None  # None: only by propagation
    value: Any
    propagate_from: frozenset[str]  # columns it reads whose skip it inherits (empty: propagate_skip off)

    def skips(self, row: dict[str, Any], skipped: set[str]) -> bool:
        if skipped and not self.propagate_from.isdisjoint(skipped):
            return True
        if self.when is None:
            return False
        try:
            return self.when(row)
        except TemplateLimitError:
            raise  # wrong for every row: a config error, not a skip
        except TemplateError:
            return True


class SkipRules:
    """The SkipRule of every column that can be skipped (by its own ``when`` or by propagation)."""

    def __init__(self, rules: dict[str, SkipRule]) -> None:
        self.rules = rules

    @classmethod
    def build(cls, columns: Sequence[Any], order: Sequence[str], references: Callable[[Any], set[str]]) -> SkipRules:
        from ddbuild.templating import compile_condition

        by_name = {c.name: c for c in columns}
        rules: dict[str, SkipRule] = {}
        for name in order:  # topological: a column's parents have their rules already
            column = by_name.get(name)
            if column is None:
                continue
            skip = getattr(column, "skip", None)
            inherited = frozenset(references(column) & set(rules)) if getattr(column, "propagate_skip", True) else frozenset()
            if skip is None and not inherited:
                continue
            when = compile_condition(skip.when, f"Column '{name}' skip.when") if skip is not None else None
            value = skip.value if skip is not None else None
            rules[name] = SkipRule(name, when, value, inherited)
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def get(self, name: str) -> SkipRule | None:
        return self.rules.get(name)
