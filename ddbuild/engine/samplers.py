"""Sampler columns: numpy draws from one stream per (seed, column, batch), or per row on seeded rows.

Unseeded rows draw vectorised from one stream per batch. Seeded rows draw from one stream per
(seed, column, row identity) (``engine.rowid``), so a value follows its row wherever it moves:
vectorised through ``RowStreams`` for the samplers in ``ROW_STREAM_SAMPLERS``, one numpy Generator
per row for the others (binomial, poisson, person: about 15 µs a row).

Each function returns ``n`` values as a numpy array (or a list for struct / mixed values).
``person`` returns one dict per row (a struct column) so templates can read
``{{ person.first_name }}``; see ``PERSON_FIELDS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ddbuild.config.columns import SamplerColumnConfig
from ddbuild.config.samplers import SamplerType
from ddbuild.engine.rng import RowStreams, rng_for, row_keys, row_rng
from ddbuild.errors import ConfigError, GenerationError

if TYPE_CHECKING:
    from ddbuild.engine.rowid import RowIdentity

Columns = Mapping[str, Sequence[Any]]

PERSON_FIELDS = (
    "uuid", "first_name", "last_name", "full_name", "sex", "age", "email_address", "phone_number",
    "street_address", "city", "state", "zipcode", "country", "occupation", "locale",
)


def _rounded(values: Any, decimal_places: int | None) -> Any:
    import numpy as np

    return values if decimal_places is None else np.round(values, decimal_places)


def _category(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    import numpy as np

    weights = None
    if p.weights is not None:
        weights = np.asarray(p.weights, dtype=float)
        weights = weights / weights.sum()
    index = rng.choice(len(p.values), size=n, p=weights)
    return _pick(p.values, index)


def _pick(values: list[Any], index: Any) -> Any:
    """values[index] as an array when the values share one scalar type, else a list."""
    import numpy as np

    kinds = {type(v) for v in values}
    if len(kinds) == 1 and kinds <= {str, int, float, bool}:
        return np.asarray(values)[index]
    return [values[i] for i in index.tolist()]


def _subcategory(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    parents = list(columns[p.category])
    draws = rng.random(n)
    out: list[Any] = []
    for parent, draw in zip(parents, draws.tolist(), strict=False):
        options = p.values.get(str(parent), p.values.get(parent))
        if not options:
            raise GenerationError(f"Subcategory has no values for parent value {parent!r} of '{p.category}'.")
        out.append(options[int(draw * len(options))])
    return out


def _uniform(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    return _rounded(rng.uniform(p.low, p.high, n), p.decimal_places)


def _gaussian(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    return _rounded(rng.normal(p.mean, p.stddev, n), p.decimal_places)


def _bernoulli(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    return (rng.random(n) < p.p).astype("int64")


def _binomial(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    return rng.binomial(p.n, p.p, n).astype("int64")


def _poisson(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    return rng.poisson(p.mean, n).astype("int64")


def _uuid(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    """Version-4-shaped UUIDs from the seeded stream (never ``uuid.uuid4``)."""
    import uuid

    raw = rng.integers(0, 256, size=(n, 16), dtype="uint8")
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    out = []
    for row in raw:
        text = str(uuid.UUID(bytes=row.tobytes()))
        if p.short_form:
            text = text[:8]
        if p.uppercase:
            text = text.upper()
        out.append(f"{p.prefix}{text}" if p.prefix else text)
    return out


def _datetime(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    import numpy as np

    start = np.datetime64(p.start, p.unit)
    end = np.datetime64(p.end, p.unit)
    if end < start:
        raise GenerationError(f"datetime sampler: end ({p.end}) is before start ({p.start}).")
    span = int(end.astype(np.int64)) - int(start.astype(np.int64))  # in ``p.unit``s
    offsets = rng.integers(0, span + 1, n)
    return (start + offsets.astype(f"timedelta64[{p.unit}]")).astype("datetime64[s]")


def _timedelta(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    """The reference column's datetime plus a delta in [dt_min, dt_max) ``unit``s."""
    import numpy as np

    reference = columns[p.reference_column_name]
    try:
        base = np.asarray(reference, dtype="datetime64[s]")
    except (TypeError, ValueError) as exc:
        raise GenerationError(
            f"timedelta sampler: reference column '{p.reference_column_name}' is not a datetime column: {exc}"
        ) from exc
    deltas = rng.integers(p.dt_min, p.dt_max, n).astype(f"timedelta64[{p.unit}]")
    return base + deltas


def _person(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    try:
        from faker import Faker
    except ImportError as exc:  # pragma: no cover - faker is a dependency
        raise GenerationError("The person sampler needs the 'faker' package.") from exc
    fake = _faker(Faker, p.locale)
    fake.seed_instance(int(rng.integers(0, 2**63 - 1)))
    ages = rng.integers(p.age_range[0], p.age_range[1] + 1, n).tolist()
    sexes = [p.sex] * n if p.sex else rng.choice(["Male", "Female"], n).tolist()
    return [_one_person(fake, sex, age, p.locale) for sex, age in zip(sexes, ages, strict=False)]


_FAKERS = threading.local()  # stages of one build may sample in parallel threads


def _faker(factory: Any, locale: str) -> Any:
    """One Faker per (thread, locale): building one costs milliseconds, and every use reseeds it
    first, so a cached one draws what a new one would."""
    fakers = getattr(_FAKERS, "by_locale", None)
    if fakers is None:
        fakers = _FAKERS.by_locale = {}
    fake = fakers.get(locale)
    if fake is None:
        fake = fakers[locale] = factory(locale)
    return fake


def _one_person(fake: Any, sex: str, age: int, locale: str) -> dict[str, Any]:
    first = fake.first_name_male() if sex == "Male" else fake.first_name_female()
    last = fake.last_name()
    state = getattr(fake, "state", None) or getattr(fake, "administrative_unit", None)
    return {
        "uuid": fake.uuid4(), "first_name": first, "last_name": last, "full_name": f"{first} {last}",
        "sex": sex, "age": age,
        "email_address": f"{first}.{last}{fake.random_int(1, 99)}@{fake.free_email_domain()}".lower(),
        "phone_number": fake.phone_number(), "street_address": fake.street_address(),
        "city": fake.city(), "state": state() if state is not None else "", "zipcode": fake.postcode(),
        "country": fake.current_country() if hasattr(fake, "current_country") else "",
        "occupation": fake.job(), "locale": locale,
    }


_SAMPLERS: dict[SamplerType, Callable[[Any, int, Any, Columns], Any]] = {
    SamplerType.CATEGORY: _category,
    SamplerType.SUBCATEGORY: _subcategory,
    SamplerType.UNIFORM: _uniform,
    SamplerType.GAUSSIAN: _gaussian,
    SamplerType.BERNOULLI: _bernoulli,
    SamplerType.BINOMIAL: _binomial,
    SamplerType.POISSON: _poisson,
    SamplerType.UUID: _uuid,
    SamplerType.DATETIME: _datetime,
    SamplerType.TIMEDELTA: _timedelta,
    SamplerType.PERSON: _person,
    SamplerType.PERSON_FROM_FAKER: _person,
}


# Samplers whose draws RowStreams provides (vectorised on seeded rows); the rest draw row by row.
ROW_STREAM_SAMPLERS = frozenset({
    SamplerType.CATEGORY, SamplerType.SUBCATEGORY, SamplerType.UNIFORM, SamplerType.GAUSSIAN,
    SamplerType.BERNOULLI, SamplerType.UUID, SamplerType.DATETIME, SamplerType.TIMEDELTA,
})


def sample_column(
    column: SamplerColumnConfig, n: int, seed: int, batch_index: int, columns: Columns,
    identity: RowIdentity | None = None,
) -> Any:
    """``n`` values of a sampler column for one batch, after ``convert_to``; with ``identity``
    (seeded rows) each row draws from its own stream."""
    sampler = _SAMPLERS[column.sampler_type]
    try:
        if identity is None:
            values = sampler(column.params, n, rng_for(seed, column.name, batch_index), columns)
        elif column.sampler_type in ROW_STREAM_SAMPLERS:
            values = sampler(column.params, n, RowStreams(row_keys(seed, column.name, identity)), columns)
        else:
            values = _per_row(sampler, column, seed, identity, columns)
    except GenerationError as exc:
        if exc.message.startswith(f"Column '{column.name}'"):
            raise
        raise GenerationError(f"Column '{column.name}': {exc.message}", hint=exc.hint) from exc
    except (ValueError, OverflowError, TypeError, AttributeError) as exc:  # numpy or faker refusing a parameter
        raise ConfigError(f"Column '{column.name}' ({column.sampler_type.value} sampler): {exc}") from exc
    return convert(values, column.convert_to, column.name) if column.convert_to else values


def _per_row(
    sampler: Callable[[Any, int, Any, Columns], Any], column: SamplerColumnConfig, seed: int,
    identity: RowIdentity, columns: Columns,
) -> Any:
    """One draw per row from the row's own stream, joined as the vectorised sampler would return."""
    import numpy as np

    from ddbuild.engine.batch import to_list

    lists = {name: to_list(values) for name, values in columns.items()}
    out = [
        sampler(column.params, 1, row_rng(seed, column.name, content, occurrence),
                {name: values[i:i + 1] for name, values in lists.items()})
        for i, (content, occurrence) in enumerate(zip(identity.hashes.tolist(), identity.occurrence.tolist(),
                                                       strict=True))
    ]
    if out and all(isinstance(v, np.ndarray) for v in out):
        return np.concatenate(out)
    return [value for values in out for value in to_list(values)]


def convert(values: Any, target: str, name: str) -> Any:
    """``convert_to``: int / float / str, or a strftime format for datetime values."""
    import numpy as np

    array = np.asarray(values)
    if target in ("int", "float", "str"):
        try:
            if target == "str" and array.dtype.kind == "M":
                return [str(v) for v in array.astype("datetime64[s]").astype(object)]
            dtypes: dict[str, str | type[str]] = {"int": "int64", "float": "float64", "str": str}
            return array.astype(dtypes[target])
        except (TypeError, ValueError) as exc:
            raise GenerationError(f"Column '{name}': cannot convert sampled values to {target}: {exc}") from exc
    if array.dtype.kind != "M":
        raise GenerationError(
            f"Column '{name}': convert_to={target!r} is a date format but the values are not datetimes.",
            hint="Use int, float or str, or a strftime format on a datetime/timedelta sampler.",
        )
    return [v.strftime(target) for v in array.astype("datetime64[s]").astype(object)]
