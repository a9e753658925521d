"""Validation columns: Data Designer's code, local-callable and remote validators, batch by batch.

A validation column is a full-column step: its target columns' rows are cut into batches of
``batch_size`` and each batch is validated at once. The cell of a row is Data Designer's output,
``{"is_valid": bool | None, <the validator's fields>}``:

    code, python   ruff (``--output-format=json``, Data Designer's rule selection) over one file per
                   row: ``python_linter_score`` (pylint's formula), ``python_linter_severity``,
                   ``python_linter_messages`` [{type, symbol, line, column, message}]
    code, sql:*    sqlfluff's parse errors (PRS) in the dialect, and DECIMAL(n) without a scale:
                   ``error_messages`` (empty when valid)
    local_callable the function's DataFrame, row by row (its columns beside ``is_valid``)
    remote         the endpoint's ``data`` items; one cached request per batch (engine/llm's
                   response cache and transport), ``max_parallel_requests`` at once

A code validator over several target columns validates each separately; the cell is then
``{column: output}``. ruff and sqlfluff come with ``pip install 'ddbuild[validators]'``; a column
that needs a missing one is refused before the run starts (``check_validators``).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddbuild.config.columns import (
    CodeValidatorParams,
    LocalCallableValidatorParams,
    RemoteValidatorParams,
    ValidationColumnConfig,
)
from ddbuild.config.enums import CodeLang
from ddbuild.engine.llm.replies import REMOTE_VALIDATION_OBJECT, validation_problem
from ddbuild.errors import ConfigError, DDBuildError, GenerationError

if TYPE_CHECKING:
    import asyncio

    import pandas as pd

    from ddbuild.engine.llm.columns import LLMServices

INSTALL = "pip install 'ddbuild[validators]'"
SQL_DIALECTS = {lang: lang.value.split(":", 1)[1] for lang in CodeLang if lang.value.startswith("sql:")}
RUFF_SELECT = "E,F6,F7,F8,SIM,PLC,PLE,PLR,PLW"  # Data Designer's selection
# ruff code prefix -> pylint message type (Data Designer's table); anything else is a warning
TYPE_FROM_SYMBOL = {"E": "refactor", "F": "error", "SIM": "refactor", "PLC": "convention", "PLE": "error",
                    "PLR": "refactor", "PLW": "warning", "SyntaxError": "fatal"}
SEVERITY_ORDER = ["fatal", "error", "warning", "convention", "refactor"]
VALID_SEVERITIES = {"none", "warning", "convention", "refactor"}


# -- checks before the run --------------------------------------------------------------------


def ruff_binary() -> str | None:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        import shutil

        return shutil.which("ruff")
    try:
        return str(find_ruff_bin())
    except FileNotFoundError:
        return None


def check_validators(columns: Sequence[Any]) -> None:
    """ConfigError for a code validator ddbuild cannot run here: a language without a linter, or
    ruff / sqlfluff not installed (naming the column and the pip command)."""
    for column in columns:
        if not isinstance(column, ValidationColumnConfig):
            continue
        params = column.validator_params
        if not isinstance(params, CodeValidatorParams):
            continue
        lang = params.code_lang
        if lang is CodeLang.PYTHON:
            if ruff_binary() is None:
                raise ConfigError(f"Column '{column.name}' validates Python code with ruff, which is not installed.",
                                  hint=f"Install the validators extra: {INSTALL}")
        elif lang in SQL_DIALECTS:
            try:
                import sqlfluff  # noqa: F401
            except ImportError:
                raise ConfigError(f"Column '{column.name}' validates SQL with sqlfluff, which is not installed.",
                                  hint=f"Install the validators extra: {INSTALL}") from None
        else:
            raise ConfigError(
                f"Column '{column.name}' asks for a code validator for '{lang.value}'; Data Designer's code "
                "validators lint python and sql (sql:ansi, sql:bigquery, sql:mysql, sql:postgres, sql:sqlite, sql:tsql).",
                hint="Use a local_callable or remote validator for other languages.")


# -- running ----------------------------------------------------------------------------------


def batches(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[start:start + size] for start in range(0, len(records), size)]


def validate_column(column: ValidationColumnConfig, frame: pd.DataFrame, services: LLMServices | None,
                    loop: asyncio.AbstractEventLoop | None) -> list[Any]:
    """One cell per row of ``frame`` (the rows to validate, in order)."""
    params = column.validator_params
    if isinstance(params, CodeValidatorParams):
        per_column = {target: _code_outputs(column, params, frame[target].tolist()) for target in column.target_columns}
        if len(column.target_columns) == 1:
            return per_column[column.target_columns[0]]
        return [{target: per_column[target][i] for target in column.target_columns} for i in range(len(frame))]
    records = _records(frame[column.target_columns])
    if isinstance(params, LocalCallableValidatorParams):
        outputs = [out for batch in batches(records, column.batch_size) for out in _local(column, params, batch)]
    else:
        assert services is not None and loop is not None, "a remote validator runs with the run's LLM services"
        outputs = loop.run_until_complete(RemoteValidator(column, params, services).run(batches(records, column.batch_size)))
    return outputs


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (numpy scalars and arrays become Python values)."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _code_outputs(column: ValidationColumnConfig, params: CodeValidatorParams, codes: list[Any]) -> list[dict[str, Any]]:
    texts = ["" if code is None else str(code) for code in codes]
    if params.code_lang is CodeLang.PYTHON:
        return [out for batch in _chunks(texts, column.batch_size) for out in lint_python(batch)]
    return [lint_sql(text, SQL_DIALECTS[params.code_lang]) for text in texts]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def lint_python(codes: list[str]) -> list[dict[str, Any]]:
    """Data Designer's Python validation of each code text (one ruff run for the batch)."""
    binary = ruff_binary()
    if binary is None:
        raise ConfigError("ruff is not installed.", hint=f"Install the validators extra: {INSTALL}")
    with tempfile.TemporaryDirectory(prefix="ddbuild-ruff-") as folder:
        paths = [Path(folder) / f"row_{i:06d}.py" for i in range(len(codes))]
        for path, code in zip(paths, codes, strict=True):
            path.write_text(code, encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - our own arguments; the code is linted, never run
            [binary, "check", "--isolated", "--select", RUFF_SELECT, "--output-format=json", "--no-cache", folder],
            capture_output=True, text=True, check=False, cwd=folder)
        try:
            diagnostics = json.loads(done.stdout or "[]")
        except ValueError as exc:
            raise GenerationError(f"ruff gave no JSON output: {done.stderr.strip()[:300]}") from exc
        messages: dict[str, list[dict[str, Any]]] = {p.stem: [] for p in paths}
        for item in diagnostics:
            code = item.get("code") or "SyntaxError"
            if code == "invalid-syntax":  # ruff >= 0.12 names syntax errors so (was: no code)
                code = "SyntaxError"
            prefix = "".join(c for c in code if c.isalpha())
            messages[Path(item["filename"]).stem].append({
                "type": TYPE_FROM_SYMBOL.get(prefix, "warning"), "symbol": code,
                "line": item["location"]["row"], "column": item["location"]["column"], "message": item["message"],
            })
        return [_python_output(messages[p.stem], code) for p, code in zip(paths, codes, strict=True)]


def _python_output(messages: list[dict[str, Any]], code: str) -> dict[str, Any]:
    ordered = sorted(messages, key=lambda m: (SEVERITY_ORDER.index(m["type"]), m["line"]))
    severity = ordered[0]["type"] if ordered else "none"
    return {"is_valid": severity in VALID_SEVERITIES, "python_linter_score": _score(ordered, code),
            "python_linter_severity": severity, "python_linter_messages": ordered}


def _score(messages: list[dict[str, Any]], code: str) -> float:
    """pylint's evaluation: 10 - (5 errors + warnings + refactors + conventions) / statements x 10, >= 0."""
    counts = {kind: sum(m["type"] == kind for m in messages) for kind in SEVERITY_ORDER}
    if counts["fatal"]:
        return 0.0
    try:
        statements = sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(code)))
    except (SyntaxError, ValueError):
        statements = 0
    weighted = 5 * counts["error"] + counts["warning"] + counts["refactor"] + counts["convention"]
    return max(0.0, 10.0 - weighted / max(1, statements) * 10)


def lint_sql(code: str, dialect: str) -> dict[str, Any]:
    """Data Designer's SQL validation: sqlfluff's parse errors, and DECIMAL(n) without a scale."""
    import logging

    import sqlfluff

    logging.getLogger("sqlfluff").setLevel(logging.WARNING)
    try:
        found = sqlfluff.lint(code, dialect=dialect)
    except Exception as exc:  # noqa: BLE001 - Data Designer's rule: a parser crash is an invalid query
        return {"is_valid": False, "error_messages": f"Exception during SQL parsing: {exc}"}
    errors = "\n".join(f"{e['code']}: {e['description']}" for e in found if str(e.get("code", "")).startswith("PRS"))
    if re.search(r"DECIMAL\(\d+\)", code):
        errors += "\nCustom Check: Found DECIMAL definitions without a scale, which may be incorrect."
    return {"is_valid": not errors, "error_messages": errors}


def _local(column: ValidationColumnConfig, params: LocalCallableValidatorParams,
           batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import pandas as pd

    from ddbuild.usercode import interrupts, reraise

    function = params.validation_function
    name = getattr(function, "__qualname__", repr(function))
    before = interrupts()
    try:
        result = function(pd.DataFrame(batch, columns=column.target_columns))
    except DDBuildError:
        raise
    except Exception as exc:
        raise GenerationError(f"Column '{column.name}': validation_function {name} raised "
                              f"{type(exc).__name__}: {exc}.") from exc
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: an error of the column
        reraise(exc, f"Column '{column.name}': validation_function {name}", before)
    if not hasattr(result, "to_json") or "is_valid" not in getattr(result, "columns", ()) or len(result) != len(batch):
        raise GenerationError(f"Column '{column.name}': validation_function {name} must return a DataFrame with an "
                              f"'is_valid' column and one row per input row ({len(batch)}).")
    outputs = json.loads(result.reset_index(drop=True).to_json(orient="records", date_format="iso"))
    _check_outputs(column, outputs, params.output_schema)
    return [_output(row) for row in outputs]


def _output(row: dict[str, Any]) -> dict[str, Any]:
    """``is_valid`` first (a bool or None), then the validator's other fields."""
    valid = row.get("is_valid")
    return {"is_valid": None if valid is None else bool(valid), **{k: v for k, v in row.items() if k != "is_valid"}}


def _check_outputs(column: ValidationColumnConfig, outputs: list[Any], schema: dict[str, Any] | None) -> None:
    from ddbuild.engine.llm.schema import validate

    bad = next((o for o in outputs if not isinstance(o, dict) or not isinstance(o.get("is_valid", False), (bool, type(None)))), 0)
    if bad != 0:
        raise GenerationError(f"Column '{column.name}': a validator output is not an object with a boolean "
                              f"'is_valid': {str(bad)[:200]}")
    problems = validate({"data": outputs}, schema) if schema else []
    if problems:
        raise GenerationError(f"Column '{column.name}': the validator's output does not fit output_schema: "
                              f"{'; '.join(problems[:3])}")


class RemoteValidator:
    """Sends a remote validator's batches through the run's transport and response cache."""

    def __init__(self, column: ValidationColumnConfig, params: RemoteValidatorParams, services: LLMServices) -> None:
        self.column, self.params, self.services = column, params, services

    async def run(self, batched: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        import asyncio

        gate = asyncio.Semaphore(self.params.max_parallel_requests)

        async def one(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            async with gate:
                return await self._batch(batch)

        tasks = [asyncio.ensure_future(one(b)) for b in batched]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:  # one batch failed the stage: end the others before the loop closes
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [row for rows in results for row in rows]

    async def _batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ddbuild.engine.llm.cache import request_key

        body = {"data": batch}
        key = request_key(f"remote-validator:{self.params.endpoint_url}",
                          {"body": body, "output_schema": self.params.output_schema}, 0, 0)
        cached = self.services.cache.get(key)
        if cached is not None and validation_problem(cached) is None and len(cached["data"]) == len(batch):
            self._count(served_from_cache=1)
            return [_output(row) for row in cached["data"]]
        reply = await self._send(body)
        rows = reply["data"]
        if len(rows) != len(batch):
            raise GenerationError(f"Column '{self.column.name}': {self.params.endpoint_url} returned {len(rows)} "
                                  f"results for {len(batch)} rows.")
        _check_outputs(self.column, rows, self.params.output_schema)
        self.services.cache.put(key, {"object": REMOTE_VALIDATION_OBJECT, "data": rows})
        return [_output(row) for row in rows]

    async def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        import asyncio

        from ddbuild.engine.llm.transport import TransportError

        url, problem = self.params.endpoint_url, ""
        headers = {"Content-Type": "application/json"}
        for attempt in range(self.params.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(60.0, self.params.retry_backoff * 2 ** (attempt - 1)))
            self._count(requests_sent=1, retries=1 if attempt else 0)
            try:
                status, _, raw = await self.services.transport.post(url, headers, body, self.params.timeout)
            except TransportError as exc:
                problem = str(exc)
                continue
            if status == 429 or status >= 500:
                problem = f"HTTP {status}"
                continue
            if not 200 <= status < 300:
                raise GenerationError(f"Column '{self.column.name}': POST {url} failed: HTTP {status}: "
                                      f"{raw[:300].decode('utf-8', 'replace')}")
            try:
                reply = json.loads(raw)
            except ValueError:
                reply = None
            found = validation_problem(reply)
            if found is None:
                return dict(reply)
            raise GenerationError(f"Column '{self.column.name}': {url} replied with no usable results: {found}")
        raise GenerationError(f"Column '{self.column.name}': POST {url} failed after "
                              f"{self.params.max_retries + 1} attempts: {problem}",
                              hint="Nothing was stored for this stage; build again when the validator is reachable.")

    def _count(self, **counts: int) -> None:
        self.services._stats.add("remote-validator", self.column.name, **counts)
