"""Conditional skips (Data Designer's ``skip=SkipConfig(when, value)`` and ``propagate_skip``):
which cells of a row are not generated, and what they hold instead.

A cell is skipped, in this order (Data Designer's checklist)::

    1. propagate_skip and a column it reads was skipped in this row  -> skipped
    2. skip.when renders truthy for the row (native value: 0, "", None, False are false)
                                   or fails to render for it        -> skipped (fail-safe: no
                                                                       request for a row whose
                                                                       filter is unknown)
    3. otherwise                                                    -> generated

A skipped cell holds ``skip.value`` (None without a SkipConfig) and sends no request; its side
columns (an LLM column's ``__trace`` and ``__reasoning_content``) hold None, and a column that
reads a side column reads the column: it inherits the skip like a column reading the value. Which
columns can be skipped at all is decided once per config (``SkipRules.build``), so a config
without skips pays nothing per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ddbuild.errors import DDBuildError, TemplateError, TemplateLimitError

# Skip behaviours changed after keys existed -> version, in the keys of the configs that use them
# (engine.samplers.behaviour_versions gathers them; every other key stays as it was).
BEHAVIOUR_VERSIONS = {
    # 2: a skipped cell's side columns hold None and a column reading one inherits the skip
    #    (before: they were undefined for that row's later columns, which dropped the row)
    "skipped_side_columns": 2,
}


def behaviour_versions(columns: Sequence[Any]) -> dict[str, int]:
    """The BEHAVIOUR_VERSIONS ``columns`` use: a config with a skip and a column that reads an
    LLM column's side column (``<name>__trace``, ``<name>__reasoning_content``)."""
    if not any(getattr(c, "skip", None) is not None for c in columns):
        return {}
    from ddbuild.config.columns import produced_columns
    from ddbuild.config.validation import column_references

    side = {out for c in columns for out in produced_columns(c)[1:]}
    if not side:
        return {}
    try:
        reads_side = any(column_references(c) & side for c in columns)
    except DDBuildError:  # a template that does not parse: the config fails before it runs
        return {}
    return {"skipped_side_columns": BEHAVIOUR_VERSIONS["skipped_side_columns"]} if reads_side else {}


@dataclass(frozen=True)
class SkipRule:
    """How one column may be skipped."""

    name: str
    when: Callable[[dict[str, Any]], bool] | None  # None: only by propagation
    value: Any
    propagate_from: frozenset[str]  # columns it reads whose skip it inherits (empty: propagate_skip off)
    side_columns: tuple[str, ...] = ()  # its side columns: None in a skipped row

    def fill(self, row: dict[str, Any]) -> None:
        """Write the skipped cell into ``row``: the skip value, None in each side column (so a
        later column of the row never finds them undefined)."""
        row[self.name] = self.value
        for side in self.side_columns:
            row[side] = None

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
        from ddbuild.config.columns import produced_columns
        from ddbuild.templating import compile_condition

        by_name = {c.name: c for c in columns}
        owner = {out: c.name for c in columns for out in produced_columns(c)}  # a side column -> its column
        rules: dict[str, SkipRule] = {}
        for name in order:  # topological: a column's parents have their rules already
            column = by_name.get(name)
            if column is None:
                continue
            skip = getattr(column, "skip", None)
            reads = {owner.get(ref, ref) for ref in references(column)}
            inherited = frozenset(reads & set(rules)) if getattr(column, "propagate_skip", True) else frozenset()
            if skip is None and not inherited:
                continue
            when = compile_condition(skip.when, f"Column '{name}' skip.when") if skip is not None else None
            value = skip.value if skip is not None else None
            rules[name] = SkipRule(name, when, value, inherited, produced_columns(column)[1:])
        return cls(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def get(self, name: str) -> SkipRule | None:
        return self.rules.get(name)
