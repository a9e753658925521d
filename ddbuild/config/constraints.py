"""Sampler constraints (Data Designer's names and fields): inequalities a sampler column's values meet.

The engine draws the rows that break one again (rejection sampling, engine/samplers.py); the
target is a sampler column, a column ``rhs`` a sampler or seed column drawn or read before it.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class ConstraintType(str, Enum):
    SCALAR_INEQUALITY = "scalar_inequality"
    COLUMN_INEQUALITY = "column_inequality"


class InequalityOperator(str, Enum):
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


class _Constraint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    target_column: str
    operator: InequalityOperator


class ScalarInequalityConstraint(_Constraint):
    """``target_column <operator> rhs`` for a number ``rhs``."""

    constraint_type: Literal["scalar_inequality"] = "scalar_inequality"
    rhs: float


class ColumnInequalityConstraint(_Constraint):
    """``target_column <operator> rhs`` for another column named ``rhs``."""

    constraint_type: Literal["column_inequality"] = "column_inequality"
    rhs: str


Constraint = Annotated[
    Union[ScalarInequalityConstraint, ColumnInequalityConstraint], Field(discriminator="constraint_type")
]
