"""Runs malformed-config cases in this process and prints one JSON line per case (see cases.py).

Started by test_malformed_configs.py as ``python -m tests.configs.harness ID ...`` under an address
space limit and a timeout. Each case runs in a fresh temporary project folder; before each one a
``START <id>`` line is printed, so a case that hangs or kills the process is named by the parent.

The names below are what a case's code may use (it is ``exec``'d with them as globals).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import ddbuild as dd

NAN, INF = math.nan, math.inf
_server: Any = None


class Enough(Exception):
    """Raised by FirstBatch's reporter after the first batch: the run was planned and started."""


def B(seed: int = 0) -> dd.DataDesignerConfigBuilder:  # noqa: N802 - short on purpose: one-line cases
    """A builder with one column, x ~ uniform(0, 1)."""
    return dd.DataDesignerConfigBuilder(seed=seed).add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})


def sampler(name: str, kind: str, convert_to: str | None = None, **params: Any) -> dict[str, Any]:
    column = {"name": name, "column_type": "sampler", "sampler_type": kind, "params": params}
    return {**column, "convert_to": convert_to} if convert_to else column


def expr(name: str, template: str, dtype: str = "str") -> dict[str, Any]:
    return {"name": name, "column_type": "expression", "expr": template, "dtype": dtype}


def custom(name: str, function: Any, required: tuple[str, ...] = ("x",), strategy: str = "cell_by_cell",
           params: Any = None) -> Any:
    marked = dd.custom_column_generator(required_columns=list(required))(function)
    if function is Typed.f and params is None:
        params = {"count": "many"}
    column = {"name": name, "column_type": "custom", "generator_function": marked, "generation_strategy": strategy}
    return {**column, "generator_params": params} if params is not None else column


def setcol(name: str, value: Any) -> Any:
    """A cell-by-cell generator function that sets ``name`` to ``value(row)``."""
    return lambda row: {**row, name: value(row)}


def boom(exc: BaseException) -> Any:
    """A function (any arguments) that raises ``exc``."""
    def raiser(*args: Any, **kwargs: Any) -> Any:
        raise exc
    return raiser


class Params(__import__("pydantic").BaseModel):
    count: int


class Typed:
    """A generator whose params model the config's dict does not satisfy (count is not an int)."""

    @staticmethod
    def f(row: dict[str, Any], generator_params: Params) -> dict[str, Any]:
        return {**row, "c": generator_params.count}


def llm(name: str = "a", prompt: str = "Say {{ x }}", kind: str = "llm-text", **kw: Any) -> dict[str, Any]:
    return {"name": name, "column_type": kind, "prompt": prompt, "model_alias": "m", **kw}


def model(**params: Any) -> dd.ModelConfig:
    return dd.ModelConfig(alias="m", model="stub-model", provider="stub", inference_parameters=params)


def fault(kind: str, times: int | None = None, **options: Any) -> None:
    _server.add_fault(kind, times=times, **options)


def builder(*columns: Any, processors: tuple[Any, ...] = (), models: list[Any] | None = None,
            base: dd.DataDesignerConfigBuilder | None = None) -> dd.DataDesignerConfigBuilder:
    b = base if base is not None else B()
    if models is None and any(isinstance(c, dict) and c.get("column_type", "").startswith("llm") for c in columns):
        models = [model()]
    if models:
        b = dd.DataDesignerConfigBuilder(model_configs=models).add_column(
            name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1})
    for column in columns:
        b.add_column(column)
    for processor in processors:
        b.add_processor(processor)
    return b


def workflow(*columns: Any, name: str = "s", workflow: str = "w", num_records: Any = 4,
             processors: tuple[Any, ...] = (), models: list[Any] | None = None, base: Any = None,
             run_config: Any = None, **add_stage: Any) -> Any:
    """A one-stage workflow of B() plus ``columns`` (the stub server as provider 'stub')."""
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="stub", endpoint=_server.url)])
    designer.set_run_config(run_config or dd.RunConfig(max_retries=1, retry_max_wait=0.05))
    wf = designer.compose_workflow(name=workflow)
    wf.add_stage(name, builder(*columns, processors=processors, models=models, base=base),
                 num_records=num_records, **add_stage)
    return wf


def stage(*columns: Any, **kw: Any) -> Any:
    """Build the one-stage workflow; the loaded rows (a DataFrame)."""
    return workflow(*columns, **kw).run().load_dataset()


def plan(*columns: Any, **kw: Any) -> Any:
    return workflow(*columns, **kw).plan()


def first_batch(*columns: Any, **kw: Any) -> int:
    """Run until the first batch is durable; the rows it holds (planning must not scale with num_records)."""
    class Stop:
        def emit(self, event: Any) -> None:
            if type(event).__name__ == "BatchDone":
                raise Enough(event.rows_done)

    try:
        workflow(*columns, **kw).run(reporter=Stop())
    except Enough as done:
        return int(done.args[0])
    raise AssertionError("the run finished without a batch")


def from_config(data: Any, **kw: Any) -> Any:
    return stage(base=dd.DataDesignerConfigBuilder.from_config(data), **kw)


def seeded(path: str, **seed_kw: Any) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path=path), **seed_kw)


def two_parents(join: Any, **kw: Any) -> Any:
    designer = dd.DataDesigner()
    wf = designer.compose_workflow(name="w")
    wf.add_stage("p1", B(), num_records=3).add_stage("p2", B(1), num_records=3, depends_on=[])
    wf.add_stage("j", dd.DataDesignerConfigBuilder().add_column(expr("y", "{{ x }}")),
                 depends_on=["p1", "p2"], join=join, join_version="1", **kw)
    return wf.run().load_dataset()


def _describe(value: Any) -> dict[str, Any]:
    rows = len(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else None
    return {"outcome": "ok", "rows": rows, "columns": [str(c) for c in getattr(value, "columns", [])]}


def run_case(case: Any) -> dict[str, Any]:
    """Run one case in a fresh project folder; what happened, as data."""
    started = time.monotonic()
    namespace = {k: v for k, v in globals().items() if not k.startswith("_")}
    try:
        value = eval(case.code, namespace)  # noqa: S307 - the corpus is our own test data
        result = _describe(value)
        if case.expect.check:
            namespace["df"] = value
            result["check"] = bool(eval(case.expect.check, namespace))  # noqa: S307
    except BaseException as exc:  # noqa: BLE001 - the point is to record whatever escaped
        if isinstance(exc, KeyboardInterrupt) and os.environ.get("DDBUILD_TEST_REAL_SIGINT"):
            raise
        result = {"outcome": "error", "type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                  "message": str(exc)[:2000], "traceback": traceback.format_exc()[-3000:]}
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def main(ids: list[str]) -> int:
    global _server
    from tests.configs.cases import BY_ID
    from tests.openai_server import start_server

    _server = start_server()
    home = Path(tempfile.mkdtemp(prefix="ddbuild-malformed-"))
    os.environ.pop("DDBUILD_CACHE", None)
    try:
        for number, case_id in enumerate(ids):
            folder = home / f"case-{number}"
            folder.mkdir()
            os.chdir(folder)
            print(f"START {case_id}", flush=True)
            result = run_case(BY_ID[case_id])
            _server.reset()
            print("RESULT " + json.dumps({"id": case_id, **result}), flush=True)
    finally:
        _server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
