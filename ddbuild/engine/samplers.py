"""Sampler columns: numpy draws from one stream per (seed, column, batch), or per row on seeded rows.

Unseeded rows draw vectorised from one stream per batch. Seeded rows draw from one stream per
(seed, column, row identity) (``engine.rowid``), so a value follows its row wherever it moves:
vectorised through ``RowStreams`` for the samplers in ``ROW_STREAM_SAMPLERS``, one numpy Generator
per row for the others (binomial, poisson, person: about 15 µs a row).

``conditional_params`` split a batch's rows into groups by the last condition each meets; each
group draws with its params. Constraints redraw the rows that break them (rejection sampling).
The scipy and bernoulli_mixture samplers import scipy (an optional extra) when first used.

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
from ddbuild.errors import ConfigError, GenerationError, did_you_mean
from ddbuild.fingerprint import canonical_json

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


def _seeded_people(p: Any, n: int, rng: Any, sampler: str) -> tuple[Any, list[int], list[str]]:
    """The part both person samplers share: a Faker seeded from ``rng``, then each row's age and
    sex (drawn in this order, so the rows' bytes do not depend on which sampler asks)."""
    try:
        from faker import Faker
    except ImportError as exc:  # pragma: no cover - faker is a dependency
        raise GenerationError(f"The {sampler} sampler needs the 'faker' package.") from exc
    fake = _faker(Faker, p.locale)
    fake.seed_instance(int(rng.integers(0, 2**63 - 1)))
    ages = rng.integers(p.age_range[0], p.age_range[1] + 1, n).tolist()
    sexes = [p.sex] * n if p.sex else rng.choice(["Male", "Female"], n).tolist()
    return fake, ages, sexes


def _person(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    fake, ages, sexes = _seeded_people(p, n, rng, "person")
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


# Data Designer's Faker person (person_from_faker): its fields and the value sets it draws from.
FAKER_PERSON_FIELDS = (
    "uuid", "locale", "first_name", "last_name", "middle_name", "sex", "street_number", "street_name", "city",
    "state", "postcode", "age", "birth_date", "country", "marital_status", "education_level", "unit",
    "occupation", "phone_number", "bachelors_field",
)
_MARITAL_STATUS = ("married_present", "divorced", "never_married", "separated", "widowed")
_EDUCATION_LEVEL = ("secondary_education", "some_college", "bachelors", "associates", "graduate", "doctorate")
_COLLEGE_LEVEL = ("bachelors", "graduate", "doctorate")
_BACHELORS = ("stem", "business", "education", "arts_humanities", "stem_related")
# birth_date makes the person ``age`` on this date (Data Designer counts from the day it runs; a
# fixed date keeps a build's bytes the same whatever day it runs).
BIRTH_DATE_REFERENCE = (2026, 1, 1)


def _person_from_faker(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    fake, ages, sexes = _seeded_people(p, n, rng, "person_from_faker")
    cities = None if p.city is None else ([p.city] if isinstance(p.city, str) else list(p.city))
    return [_faker_person(fake, sex, age, p.locale, cities) for sex, age in zip(sexes, ages, strict=False)]


def _try(fake: Any, attribute: str) -> Any:
    method = getattr(fake, attribute, None)
    try:
        return method() if method is not None else None
    except AttributeError:  # a provider this locale lacks
        return None


def _faker_person(fake: Any, sex: str, age: int, locale: str, cities: list[str] | None) -> dict[str, Any]:
    import datetime as dt

    reference = dt.date(*BIRTH_DATE_REFERENCE)
    latest = reference.replace(year=reference.year - age)
    earliest = reference.replace(year=reference.year - age - 1) + dt.timedelta(days=1)
    birth = earliest + dt.timedelta(days=fake.random_int(0, (latest - earliest).days))
    education = fake.random_element(_EDUCATION_LEVEL)
    return {
        "uuid": fake.uuid4(), "locale": locale,
        "first_name": _try(fake, f"first_name_{sex.lower()}"), "last_name": _try(fake, f"last_name_{sex.lower()}"),
        "middle_name": None, "sex": sex,
        "street_number": _try(fake, "building_number"), "street_name": _try(fake, "street_name"),
        "city": fake.random_element(cities) if cities else _try(fake, "city"),
        "state": _try(fake, "state"), "postcode": _try(fake, "postcode"),
        "age": age, "birth_date": birth.isoformat(), "country": _try(fake, "country"),
        "marital_status": fake.random_element(_MARITAL_STATUS), "education_level": education, "unit": "",
        "occupation": _try(fake, "job"), "phone_number": _try(fake, "phone_number") if age >= 18 else None,
        "bachelors_field": fake.random_element(_BACHELORS) if education in _COLLEGE_LEVEL else "no_degree",
    }


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


SCIPY_INSTALL = "pip install 'ddbuild[scipy]'"


def scipy_distribution(dist_name: str, dist_params: dict[str, Any], where: str) -> Any:
    """The frozen ``scipy.stats`` distribution ``dist_name(**dist_params)``; ConfigError naming
    ``where`` when scipy is missing, the name is not a distribution or the parameters are wrong."""
    key = (dist_name, canonical_json(dist_params))
    frozen = _FROZEN.get(key)
    if frozen is not None:
        return frozen
    try:
        import scipy.stats as stats
    except ImportError:
        raise ConfigError(
            f"{where} uses scipy.stats.{dist_name}, but scipy is not installed.",
            hint=f"Install the optional extra: {SCIPY_INSTALL}",
        ) from None
    family = getattr(stats, dist_name, None)
    if not isinstance(family, (stats.rv_continuous, stats.rv_discrete)):
        names = [n for n in dir(stats) if isinstance(getattr(stats, n), (stats.rv_continuous, stats.rv_discrete))]
        raise ConfigError(f"{where}: dist_name {dist_name!r} is not a scipy.stats distribution."
                          f"{did_you_mean(dist_name, names)}")
    try:
        frozen = family(**dist_params)
        frozen.rvs(size=1, random_state=0)  # scipy checks the parameters when it draws
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: scipy.stats.{dist_name} refuses dist_params {dist_params!r}: {exc}") from None
    _FROZEN[key] = frozen
    return frozen


_FROZEN: dict[tuple[str, str], Any] = {}  # frozen distributions are immutable; share them


def _scipy(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    values = scipy_distribution(p.dist_name, p.dist_params, "scipy sampler").rvs(size=n, random_state=rng)
    return _rounded(values, p.decimal_places)


def _bernoulli_mixture(p: Any, n: int, rng: Any, columns: Columns) -> Any:
    import numpy as np

    keep = rng.random(n) < p.p
    values = scipy_distribution(p.dist_name, p.dist_params, "bernoulli_mixture sampler").rvs(size=n, random_state=rng)
    return np.where(keep, values, np.zeros_like(values))


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
    SamplerType.PERSON_FROM_FAKER: _person_from_faker,
    SamplerType.SCIPY: _scipy,
    SamplerType.BERNOULLI_MIXTURE: _bernoulli_mixture,
}
SCIPY_SAMPLERS = frozenset({SamplerType.SCIPY, SamplerType.BERNOULLI_MIXTURE})

# Sampler behaviours changed after keys existed -> version. A config that uses one has it in its keys
# (stage and resume), so entries made before the change are not served for it; every other key
# stays as it was (fingerprint.ENGINE_COMPAT_VERSION would move them all). behaviour_versions also
# gathers the skip behaviours of engine.skips.BEHAVIOUR_VERSIONS.
BEHAVIOUR_VERSIONS = {
    "person_from_faker": 2,  # 2: Data Designer's Faker person fields (middle_name, street_number, ...)
    "convert_to_int": 2,  # 2: rounds to the nearest integer (half to even), as Data Designer does
}


def behaviour_versions(columns: Sequence[Any]) -> dict[str, int]:
    """The BEHAVIOUR_VERSIONS (and engine.skips') of the behaviours ``columns`` use (empty for most configs)."""
    from ddbuild.engine.skips import behaviour_versions as skip_behaviours

    used: dict[str, int] = skip_behaviours(columns)
    for column in columns:
        if not isinstance(column, SamplerColumnConfig):
            continue
        if column.sampler_type == SamplerType.PERSON_FROM_FAKER:
            used["person_from_faker"] = BEHAVIOUR_VERSIONS["person_from_faker"]
        if column.convert_to == "int" and any(_fractional(column.sampler_type, params) for params in
                                               (column.params, *column.conditional_params.values())):
            used["convert_to_int"] = BEHAVIOUR_VERSIONS["convert_to_int"]
    return used


def _fractional(kind: SamplerType, params: Any) -> bool:
    """Whether a sampler may draw a value with a fraction (where rounding and truncating differ)."""
    if kind in (SamplerType.UNIFORM, SamplerType.GAUSSIAN, SamplerType.SCIPY):
        return params.decimal_places is None or params.decimal_places > 0
    if kind == SamplerType.BERNOULLI_MIXTURE:
        return True
    if kind in (SamplerType.CATEGORY, SamplerType.SUBCATEGORY):
        values = params.values if kind == SamplerType.CATEGORY else [v for vs in params.values.values() for v in vs]
        return any(isinstance(v, float) and not v.is_integer() for v in values)
    return False


def check_samplers(columns: Sequence[Any]) -> None:
    """Raise before the first batch what a sampler column would raise on its first draw: scipy
    missing, an unknown distribution, parameters scipy refuses."""
    for column in columns:
        if isinstance(column, SamplerColumnConfig) and column.sampler_type in SCIPY_SAMPLERS:
            for condition, params in [(None, column.params), *column.conditional_params.items()]:
                where = f"Column '{column.name}' ({column.sampler_type.value} sampler" + (
                    f", condition {condition!r})" if condition else ")")
                scipy_distribution(params.dist_name, params.dist_params, where)


# Samplers whose draws RowStreams provides (vectorised on seeded rows); the rest draw row by row.
ROW_STREAM_SAMPLERS = frozenset({
    SamplerType.CATEGORY, SamplerType.SUBCATEGORY, SamplerType.UNIFORM, SamplerType.GAUSSIAN,
    SamplerType.BERNOULLI, SamplerType.UUID, SamplerType.DATETIME, SamplerType.TIMEDELTA,
})


MAX_DRAWS = 1000  # draws per row before a constraint that no draw meets is an error


def sample_column(
    column: SamplerColumnConfig, n: int, seed: int, batch_index: int, columns: Columns,
    identity: RowIdentity | None = None, constraints: Sequence[Any] = (),
) -> Any:
    """``n`` values of a sampler column for one batch, after ``convert_to``; with ``identity``
    (seeded rows) each row draws from its own stream.

    ``conditional_params`` split the rows by the last condition each meets; ``constraints`` (on this
    column) redraw the rows that break one, draw k of a row from stream ``(name, k)``, up to
    MAX_DRAWS draws, so a row's value never depends on how many other rows were redrawn."""
    import numpy as np

    try:
        values = _draw(column, np.arange(n), seed, batch_index, columns, identity, 0)
        if constraints:
            values = _enforce(column, values, constraints, seed, batch_index, columns, identity)
    except GenerationError as exc:
        if exc.message.startswith(f"Column '{column.name}'"):
            raise
        raise GenerationError(f"Column '{column.name}': {exc.message}", hint=exc.hint) from exc
    except ConfigError as exc:
        if exc.message.startswith(f"Column '{column.name}'"):
            raise
        raise ConfigError(f"Column '{column.name}': {exc.message}", hint=exc.hint) from exc
    except (ValueError, OverflowError, TypeError, AttributeError) as exc:  # numpy or faker refusing a parameter
        raise ConfigError(f"Column '{column.name}' ({column.sampler_type.value} sampler): {exc}") from exc
    return _converted(values, column, final=True)


def _converted(values: Any, column: SamplerColumnConfig, final: bool) -> Any:
    """``convert_to`` applied; before the constraints are checked (``final=False``) only the number
    conversions, so a constraint compares the values as written (Data Designer's order)."""
    target = column.convert_to
    if not target or (not final and target not in ("int", "float")):
        return values
    return convert(values, target, column.name)


def _take(values: Any, index: Any) -> Any:
    import numpy as np

    from ddbuild.engine.batch import to_list

    if isinstance(values, np.ndarray):
        return values[index]
    listed = to_list(values)
    return [listed[i] for i in index.tolist()]


def _draw(
    column: SamplerColumnConfig, index: Any, seed: int, batch_index: int, columns: Columns,
    identity: RowIdentity | None, attempt: int,
) -> Any:
    """Values for rows ``index`` of the batch: each group of rows with its params (conditions)."""

    whole = attempt == 0  # draw 0 is of every row of the batch; later draws of the failing rows
    sub = columns if whole else {name: _take(values, index) for name, values in columns.items()}
    sub_identity = identity if whole or identity is None else identity.take(index)
    groups = _groups(column, len(index), sub)
    if len(groups) == 1:
        params, _ = groups[0]
        return _draw_params(column, params, len(index), seed, batch_index, sub, sub_identity, attempt, 0)
    parts = []
    for number, (params, rows) in enumerate(groups):
        part_columns = {name: _take(values, rows) for name, values in sub.items()}
        part_identity = None if sub_identity is None else sub_identity.take(rows)
        parts.append((rows, _draw_params(column, params, len(rows), seed, batch_index, part_columns, part_identity,
                                         attempt, number)))
    return _assemble(parts, len(index))


def _groups(column: SamplerColumnConfig, n: int, columns: Columns) -> list[tuple[Any, Any]]:
    """(params, row positions) per group: rows meeting no condition draw with ``params``, the
    others with the params of the last condition they meet (Data Designer's order)."""
    import numpy as np

    if not column.conditional_params or n == 0:
        return [(column.params, np.arange(n))]
    from ddbuild.config.validation import condition_template
    from ddbuild.engine.batch import to_list
    from ddbuild.templating import compile_template

    names = list(columns)
    lists = [to_list(columns[name]) for name in names]
    rows = [dict(zip(names, [_plain(v) for v in values], strict=True)) for values in zip(*lists, strict=True)]
    choice = np.zeros(n, dtype=np.int64)  # 0: params, k: the k-th condition
    options = [column.params]
    for number, (condition, params) in enumerate(column.conditional_params.items(), start=1):
        render = compile_template(condition_template(condition),
                                  f"Column '{column.name}' conditional_params condition {condition!r}")
        meets = np.fromiter((render(row).strip() == "True" for row in rows), dtype=bool, count=n)
        choice[meets] = number
        options.append(params)
    return [(options[k], np.flatnonzero(choice == k)) for k in range(len(options)) if (choice == k).any()]


def _plain(value: Any) -> Any:
    """A cell as a condition reads it: datetimes as ISO text (Data Designer's rule)."""
    import datetime as dt

    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def _assemble(parts: list[tuple[Any, Any]], n: int) -> Any:
    import numpy as np

    if all(isinstance(values, np.ndarray) for _, values in parts):
        out = np.empty(n, dtype=np.result_type(*[values.dtype for _, values in parts]))
        for rows, values in parts:
            out[rows] = values
        return out
    merged: list[Any] = [None] * n
    for rows, values in parts:
        for i, value in zip(rows.tolist(), list(values), strict=True):
            merged[i] = value
    return merged


def _draw_params(
    column: SamplerColumnConfig, params: Any, n: int, seed: int, batch_index: int, columns: Columns,
    identity: RowIdentity | None, attempt: int, group: int,
) -> Any:
    """``n`` draws with ``params``. Draw 0 of the unconditioned rows uses the column's own stream,
    so adding conditions or constraints that every row already meets changes nothing."""
    sampler = _SAMPLERS[column.sampler_type]
    name = column.name if attempt == 0 else f"{column.name}\x00draw{attempt}"
    if identity is None:
        stream = name if group == 0 else f"{name}\x00group{group}"
        return sampler(params, n, rng_for(seed, stream, batch_index), columns)
    if column.sampler_type in ROW_STREAM_SAMPLERS:
        return sampler(params, n, RowStreams(row_keys(seed, name, identity)), columns)
    return _per_row(sampler, params, name, seed, identity, columns)


def _enforce(
    column: SamplerColumnConfig, values: Any, constraints: Sequence[Any], seed: int, batch_index: int,
    columns: Columns, identity: RowIdentity | None,
) -> Any:
    """Redraw the rows that break a constraint until every row meets all of them."""
    import numpy as np

    values = _as_array(_converted(values, column, final=False))
    failing = np.flatnonzero(~_meets(values, constraints, columns))
    attempt = 0
    while failing.size:
        attempt += 1
        if attempt >= MAX_DRAWS:
            rule = _describe_constraint(constraints, values[failing[:1]], columns, failing[:1])
            raise GenerationError(
                f"Column '{column.name}': {rule} is not met by {failing.size} of {len(values)} rows after "
                f"{MAX_DRAWS} draws each.",
                hint="The constraint is unsatisfiable or nearly so for this sampler's parameters: widen the "
                "sampler's range or relax the constraint.",
            )
        redrawn = _as_array(_converted(_draw(column, failing, seed, batch_index, columns, identity, attempt),
                                       column, final=False))
        if values.dtype != redrawn.dtype:
            values = values.astype(np.result_type(values.dtype, redrawn.dtype))
        values[failing] = redrawn
        sub = {name: _take(vals, failing) for name, vals in columns.items()}
        failing = failing[~_meets(redrawn, constraints, sub)]
    return values


def _as_array(values: Any) -> Any:
    import numpy as np

    return values if isinstance(values, np.ndarray) else np.asarray(values)


_COMPARE = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal"}
_SYMBOL = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _meets(values: Any, constraints: Sequence[Any], columns: Columns) -> Any:
    import numpy as np

    from ddbuild.engine.batch import to_list

    ok = np.ones(len(values), dtype=bool)
    for constraint in constraints:
        rhs = constraint.rhs if not isinstance(constraint.rhs, str) else np.asarray(to_list(columns[constraint.rhs]))
        try:
            ok &= getattr(np, _COMPARE[constraint.operator.value])(values, rhs)
        except TypeError as exc:
            raise ConfigError(
                f"{type(constraint).__name__} on '{constraint.target_column}' cannot compare its values with "
                f"{constraint.rhs!r}: {exc}",
                hint="Constraints compare numbers (or datetimes with datetimes).",
            ) from None
    return ok


def _describe_constraint(constraints: Sequence[Any], value: Any, columns: Columns, row: Any) -> str:
    failing = [c for c in constraints if not _meets(value, [c], {k: _take(v, row) for k, v in columns.items()})[0]]
    constraint = (failing or list(constraints))[0]
    return (f"{type(constraint).__name__} '{constraint.target_column} {_SYMBOL[constraint.operator.value]} "
            f"{constraint.rhs}'")


def _per_row(
    sampler: Callable[[Any, int, Any, Columns], Any], params: Any, stream: str, seed: int,
    identity: RowIdentity, columns: Columns,
) -> Any:
    """One draw per row from the row's own stream, joined as the vectorised sampler would return."""
    import numpy as np

    from ddbuild.engine.batch import to_list

    lists = {name: to_list(values) for name, values in columns.items()}
    out = [
        sampler(params, 1, row_rng(seed, stream, content, occurrence),
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
            if target == "int" and array.dtype.kind == "f":
                array = np.round(array)  # to the nearest integer, half to even (Data Designer's rule)
            return array.astype(dtypes[target])
        except (TypeError, ValueError) as exc:
            raise GenerationError(f"Column '{name}': cannot convert sampled values to {target}: {exc}") from exc
    if array.dtype.kind != "M":
        raise GenerationError(
            f"Column '{name}': convert_to={target!r} is a date format but the values are not datetimes.",
            hint="Use int, float or str, or a strftime format on a datetime/timedelta sampler.",
        )
    return [v.strftime(target) for v in array.astype("datetime64[s]").astype(object)]
