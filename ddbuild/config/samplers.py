"""Sampler types and their parameter models (Data Designer's names and defaults)."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplerType(str, Enum):
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    UNIFORM = "uniform"
    GAUSSIAN = "gaussian"
    BERNOULLI = "bernoulli"
    BINOMIAL = "binomial"
    POISSON = "poisson"
    UUID = "uuid"
    DATETIME = "datetime"
    TIMEDELTA = "timedelta"
    PERSON = "person"
    PERSON_FROM_FAKER = "person_from_faker"  # the same Faker generator as PERSON
    BERNOULLI_MIXTURE = "bernoulli_mixture"  # 0, or a scipy.stats draw with probability p
    SCIPY = "scipy"  # any scipy.stats distribution (scipy is the optional extra ddbuild[scipy])


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_weights(values: list[Any], weights: list[float] | None) -> None:
    """Weights, when given, pair one-to-one with values, are non-negative and not all zero."""
    if weights is None:
        return
    if len(weights) != len(values):
        raise ValueError(f"weights has {len(weights)} entries but values has {len(values)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative and sum to more than 0")


def normalise_weights(weights: list[float] | None) -> list[float] | None:
    """Weights scaled to sum to 1, as Data Designer stores them (``w / sum``), so a config built
    with ``[2, 1]`` and the same config read from Data Designer's file (``[0.666.., 0.333..]``) are
    one config with one key. Weights that already sum to 1 (to 1e-12) are kept bit for bit: loading
    a written file again must not move its key."""
    if weights is None:
        return None
    total = sum(weights)
    if math.isclose(total, 1.0, rel_tol=0.0, abs_tol=1e-12):
        return weights
    return [w / total for w in weights]


class CategorySamplerParams(_Params):
    values: list[Any] = Field(min_length=1)
    weights: list[float] | None = None  # normalised to sum to 1 (Data Designer's rule)

    @model_validator(mode="after")
    def _weights_match(self) -> CategorySamplerParams:
        check_weights(self.values, self.weights)
        object.__setattr__(self, "weights", normalise_weights(self.weights))
        return self


class SubcategorySamplerParams(_Params):
    """``values`` is kept sorted by parent value: its order never changes a draw, and Data
    Designer's YAML files sort it, so a loaded file and a Python config have one key."""

    category: str
    values: dict[str, list[Any]]

    @model_validator(mode="after")
    def _sorted(self) -> SubcategorySamplerParams:
        object.__setattr__(self, "values", dict(sorted(self.values.items())))
        return self


MAX_DECIMAL_PLACES = 15  # float64 holds 15-17 significant digits; more only costs time


class UniformSamplerParams(_Params):
    low: float
    high: float
    decimal_places: int | None = Field(default=None, ge=-MAX_DECIMAL_PLACES, le=MAX_DECIMAL_PLACES)

    @model_validator(mode="after")
    def _ordered(self) -> UniformSamplerParams:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be less than high ({self.high})")
        return self


class GaussianSamplerParams(_Params):
    mean: float
    stddev: float = Field(ge=0)
    decimal_places: int | None = Field(default=None, ge=-MAX_DECIMAL_PLACES, le=MAX_DECIMAL_PLACES)


class BernoulliSamplerParams(_Params):
    p: float = Field(ge=0, le=1)


class ScipySamplerParams(_Params):
    """A ``scipy.stats`` distribution by name with its keyword parameters (Data Designer's fields).

    scipy is imported only when such a column is built (``pip install 'ddbuild[scipy]'``); the
    name and parameters are checked then, before the first batch (engine/samplers.py)."""

    dist_name: str = Field(min_length=1)
    dist_params: dict[str, Any]
    decimal_places: int | None = Field(default=None, ge=-MAX_DECIMAL_PLACES, le=MAX_DECIMAL_PLACES)


class BernoulliMixtureSamplerParams(_Params):
    """0 with probability ``1 - p``, else a draw from the ``scipy.stats`` distribution
    ``dist_name(**dist_params)`` (Data Designer's zero-inflated sampler)."""

    p: float = Field(ge=0, le=1)
    dist_name: str = Field(min_length=1)
    dist_params: dict[str, Any]


class BinomialSamplerParams(_Params):
    n: int = Field(ge=0, le=2**62)  # numpy draws with a C long
    p: float = Field(ge=0, le=1)


class PoissonSamplerParams(_Params):
    mean: float = Field(gt=0, le=1e18)  # numpy refuses lam above ~9.2e18


class UUIDSamplerParams(_Params):
    prefix: str | None = None
    short_form: bool = False
    uppercase: bool = False


DatetimeUnit = Literal["Y", "M", "D", "h", "m", "s"]
TimedeltaUnit = Literal["D", "h", "m", "s"]


class DatetimeSamplerParams(_Params):
    start: str
    end: str
    unit: DatetimeUnit = "D"

    @model_validator(mode="after")
    def _dates(self) -> DatetimeSamplerParams:
        import numpy as np

        bounds = []
        for field_name in ("start", "end"):
            value = getattr(self, field_name)
            try:
                bounds.append(np.datetime64(value, self.unit))
            except (ValueError, TypeError, OverflowError) as exc:
                raise ValueError(f"{field_name} {value!r} is not an ISO date or datetime ({exc})") from None
        if bounds[1] < bounds[0]:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class TimeDeltaSamplerParams(_Params):
    dt_min: int = Field(ge=0)
    dt_max: int = Field(gt=0)
    reference_column_name: str
    unit: TimedeltaUnit = "D"

    @model_validator(mode="after")
    def _ordered(self) -> TimeDeltaSamplerParams:
        if self.dt_min >= self.dt_max:
            raise ValueError(f"dt_min ({self.dt_min}) must be less than dt_max ({self.dt_max})")
        return self


class PersonSamplerParams(_Params):
    """Data Designer's fields and defaults. ``city``, ``select_field_values`` and
    ``with_synthetic_personas`` select Data Designer's managed person datasets: loaded and
    written, refused at build time when set (``ddbuild.config.support``)."""

    locale: str = "en_US"
    sex: Literal["Male", "Female"] | None = None
    city: str | list[str] | None = None
    age_range: list[int] = Field(default_factory=lambda: [18, 114], min_length=2, max_length=2)
    select_field_values: dict[str, list[str]] | None = None
    with_synthetic_personas: bool = False

    @model_validator(mode="after")
    def _ages(self) -> PersonSamplerParams:
        check_ages(self.age_range)
        return self


def check_ages(age_range: list[int]) -> None:
    low, high = age_range
    if not 0 <= low <= high <= 150:
        raise ValueError(f"age_range {age_range} must be [low, high] with 0 <= low <= high <= 150")


class PersonFromFakerSamplerParams(_Params):
    """Data Designer's Faker-based person sampler: ddbuild's person sampler is Faker-based, so
    this runs the same generator (``city``, when set, is refused by config/support.py)."""

    locale: str = "en_US"
    sex: Literal["Male", "Female"] | None = None
    city: str | list[str] | None = None
    age_range: list[int] = Field(default_factory=lambda: [18, 114], min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ages(self) -> PersonFromFakerSamplerParams:
        check_ages(self.age_range)
        return self


SAMPLER_PARAMS: dict[SamplerType, type[_Params]] = {
    SamplerType.CATEGORY: CategorySamplerParams,
    SamplerType.SUBCATEGORY: SubcategorySamplerParams,
    SamplerType.UNIFORM: UniformSamplerParams,
    SamplerType.GAUSSIAN: GaussianSamplerParams,
    SamplerType.BERNOULLI: BernoulliSamplerParams,
    SamplerType.BINOMIAL: BinomialSamplerParams,
    SamplerType.POISSON: PoissonSamplerParams,
    SamplerType.UUID: UUIDSamplerParams,
    SamplerType.DATETIME: DatetimeSamplerParams,
    SamplerType.TIMEDELTA: TimeDeltaSamplerParams,
    SamplerType.PERSON: PersonSamplerParams,
    SamplerType.PERSON_FROM_FAKER: PersonFromFakerSamplerParams,
    SamplerType.BERNOULLI_MIXTURE: BernoulliMixtureSamplerParams,
    SamplerType.SCIPY: ScipySamplerParams,
}
