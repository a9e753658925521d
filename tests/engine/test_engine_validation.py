"""Validation columns end to end: code (ruff, sqlfluff), local-callable and remote validators,
values as Data Designer structures them, request counts and the response cache."""

from __future__ import annotations

import pandas as pd
import pytest
from engine_helpers import load, run

import ddbuild as dd
from ddbuild.engine.llm.cache import MemoryResponseCache
from ddbuild.errors import ConfigError, GenerationError

CODES = [
    "def add(a, b):\n    return a + b\n",
    "print(undefined_name)\n",
    "def broken(:\n",
]


def _seeded(frame: dict) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(seed=1)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame(frame)))
    return b


def test_python_code_is_linted_with_ruff_as_data_designer_does(tmp_path):
    b = _seeded({"code": CODES})
    b.add_column(dd.ValidationColumnConfig(name="check", target_columns=["code"], validator_type="code",
                                           validator_params=dd.CodeValidatorParams(code_lang="python")))
    run(b, tmp_path / "a", num_records=3)
    checks = list(load(tmp_path / "a")["check"])
    assert checks[0]["is_valid"] and checks[0]["python_linter_severity"] == "none"
    assert checks[0]["python_linter_score"] == 10.0 and list(checks[0]["python_linter_messages"]) == []
    assert not checks[1]["is_valid"] and checks[1]["python_linter_severity"] == "error"
    [message] = checks[1]["python_linter_messages"]
    assert (message["type"], message["symbol"], message["line"], message["column"]) == ("error", "F821", 1, 7)
    assert "undefined_name" in message["message"]
    assert checks[1]["python_linter_score"] == 0.0  # 10 - 5 errors/1 statement x 10, floored at 0
    assert not checks[2]["is_valid"] and checks[2]["python_linter_severity"] == "fatal"


def test_sql_is_linted_with_sqlfluff_per_dialect(tmp_path):
    pytest.importorskip("sqlfluff")
    queries = ["SELECT id, name FROM users WHERE id = 1", "SELEC broken FROM", "CREATE TABLE t (x DECIMAL(10))"]
    b = _seeded({"q": queries})
    b.add_column(name="check", column_type="validation", target_columns=["q"], validator_type="code",
                 validator_params={"code_lang": "sql:postgres"})
    run(b, tmp_path / "a", num_records=3)
    checks = list(load(tmp_path / "a")["check"])
    assert checks[0] == {"is_valid": True, "error_messages": ""}
    assert not checks[1]["is_valid"] and checks[1]["error_messages"].startswith("PRS: ")
    assert not checks[2]["is_valid"] and "DECIMAL definitions without a scale" in checks[2]["error_messages"]


def test_a_code_validator_over_two_columns_validates_each(tmp_path):
    b = _seeded({"good": [CODES[0]] * 2, "bad": [CODES[1], CODES[0]]})
    b.add_column(dd.ValidationColumnConfig(name="check", target_columns=["good", "bad"], validator_type="code",
                                           validator_params=dd.CodeValidatorParams(code_lang="python")))
    run(b, tmp_path / "a", num_records=2)
    checks = list(load(tmp_path / "a")["check"])
    assert [(c["good"]["is_valid"], c["bad"]["is_valid"]) for c in checks] == [(True, False), (True, True)]


def test_a_missing_linter_is_named_with_the_pip_command(tmp_path, monkeypatch):
    import ddbuild.engine.validation as validation

    monkeypatch.setattr(validation, "ruff_binary", lambda: None)
    b = _seeded({"code": CODES})
    b.add_column(dd.ValidationColumnConfig(name="check", target_columns=["code"], validator_type="code",
                                           validator_params=dd.CodeValidatorParams(code_lang="python")))
    with pytest.raises(ConfigError) as info:
        run(b, tmp_path / "a", num_records=3)
    assert info.value.message == "Column 'check' validates Python code with ruff, which is not installed."
    assert info.value.hint == "Install the validators extra: pip install 'ddbuild[validators]'"
    assert not (tmp_path / "a").exists()


def test_a_language_without_a_linter_is_refused():
    b = _seeded({"code": CODES})
    b.add_column(dd.ValidationColumnConfig(name="check", target_columns=["code"], validator_type="code",
                                           validator_params=dd.CodeValidatorParams(code_lang="rust")))
    with pytest.raises(ConfigError, match="Column 'check' asks for a code validator for 'rust'"):
        run(b, __import__("pathlib").Path("/nonexistent/x"), num_records=1)


CALLS: list[int] = []


def positive(df: pd.DataFrame) -> pd.DataFrame:
    CALLS.append(len(df))
    out = pd.DataFrame({"is_valid": df["price"] > 0})
    out["error_message"] = ["" if ok else "Price must be positive" for ok in out["is_valid"]]
    return out


def test_a_local_callable_validates_in_batches_and_keys_by_its_source(tmp_path):
    CALLS.clear()
    b = _seeded({"price": [3, -1, 5, 0, 7]})
    params = dd.LocalCallableValidatorParams(validation_function=positive, output_schema={
        "type": "object", "properties": {"data": {"type": "array", "items": {
            "type": "object", "required": ["is_valid"]}}}})
    b.add_column(dd.ValidationColumnConfig(name="ok", target_columns=["price"], validator_type="local_callable",
                                           validator_params=params, batch_size=2))
    run(b, tmp_path / "a", num_records=5)
    assert CALLS == [2, 2, 1]
    checks = list(load(tmp_path / "a")["ok"])
    assert [c["is_valid"] for c in checks] == [True, False, True, False, True]
    assert checks[1]["error_message"] == "Price must be positive"

    from ddbuild.planning.callbacks import source_digest
    from ddbuild.planning.identity import custom_function_digests

    assert custom_function_digests(b) == {"ok": source_digest(positive)}
    assert b.build().columns[-1].model_dump(mode="json")["validator_params"]["validation_function"] == (
        f"{positive.__module__}:positive")


def test_a_local_callable_output_that_breaks_its_schema_fails_the_stage(tmp_path):
    b = _seeded({"price": [1]})
    params = dd.LocalCallableValidatorParams(validation_function=positive, output_schema={
        "type": "object", "properties": {"data": {"type": "array", "items": {
            "type": "object", "required": ["score"]}}}})
    b.add_column(dd.ValidationColumnConfig(name="ok", target_columns=["price"], validator_type="local_callable",
                                           validator_params=params))
    with pytest.raises(GenerationError, match="Column 'ok': the validator's output does not fit output_schema"):
        run(b, tmp_path / "a", num_records=1)


def _remote(server, **params) -> dd.DataDesignerConfigBuilder:
    b = _seeded({"text": ["fine", "bad one", "also fine", "bad two", "ok"]})
    b.add_column(dd.ValidationColumnConfig(
        name="remote", target_columns=["text"], validator_type="remote", batch_size=2,
        validator_params=dd.RemoteValidatorParams(endpoint_url=f"{server.url}/validate", **params)))
    return b


def test_a_remote_validator_is_asked_per_batch_and_cached_by_request(tmp_path, openai_server):
    cache = MemoryResponseCache()
    summary = run(_remote(openai_server), tmp_path / "a", num_records=5, response_cache=cache)
    checks = list(load(tmp_path / "a")["remote"])
    assert [c["is_valid"] for c in checks] == [True, False, True, False, True]
    assert checks[1]["chars"] == len("bad one")
    assert openai_server.by_api == {"validate": 3}  # 5 rows in batches of 2
    # The batch requests run concurrently: their arrival order is not fixed, their contents are.
    assert {"data": [{"text": "fine"}, {"text": "bad one"}]} in [r.body for r in openai_server.records]
    assert summary.llm_stats["requests_sent"] == 3
    run(_remote(openai_server, timeout=5, max_parallel_requests=1), tmp_path / "b", num_records=5,
        response_cache=cache)
    assert openai_server.total == 3  # every batch answered from the response cache
    assert (tmp_path / "a/parquet-files/batch_00000.parquet").read_bytes() == (
        tmp_path / "b/parquet-files/batch_00000.parquet").read_bytes()


def test_create_caches_a_remote_validator_of_a_config_without_llm_columns(tmp_path, monkeypatch, openai_server):
    """Regression: DataDesigner.create opened the response cache only for model columns, so a
    config whose only requests are a remote validator's sent every batch again on each create."""
    monkeypatch.chdir(tmp_path)
    designer = dd.DataDesigner(cache=tmp_path / "cache")
    first = designer.create(_remote(openai_server), num_records=5, dataset_name="a")
    assert openai_server.by_api == {"validate": 3}
    again = dd.DataDesigner(cache=tmp_path / "cache").create(_remote(openai_server), num_records=5,
                                                             dataset_name="b")
    assert openai_server.total == 3  # every batch answered from the response cache
    assert again.dataset_files()[0].read_bytes() == first.dataset_files()[0].read_bytes()


def test_a_remote_validator_retries_then_fails_the_stage_naming_the_endpoint(tmp_path, openai_server):
    openai_server.add_fault("500", times=1, match="fine")
    run(_remote(openai_server, retry_backoff=0.01), tmp_path / "a", num_records=5)
    assert openai_server.by_status[500] == 1 and openai_server.by_api["validate"] == 4
    openai_server.reset()
    openai_server.add_fault("500", times=None)
    with pytest.raises(GenerationError, match=r"Column 'remote': POST http://127\.0\.0\.1:\d+/v1/validate failed "
                                              r"after 2 attempts: HTTP 500"):
        run(_remote(openai_server, retry_backoff=0.01, max_retries=1), tmp_path / "b", num_records=5)


def test_a_batch_that_fails_the_stage_ends_the_batches_still_in_flight(tmp_path, monkeypatch):
    """Regression: when one batch failed the stage, the others were left pending and the run's
    event loop closed under them: "Exception ignored in <coroutine RemoteValidator.run.<locals>.one>
    ... RuntimeError: Event loop is closed" on stderr, once per batch."""
    import gc
    import sys

    from tests.openai_server import start_server

    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    server = start_server(latency_ms=200)
    server.add_fault("400", match="bad one")
    try:
        with pytest.raises(GenerationError, match="Column 'remote': POST .* failed: HTTP 400"):
            # 3 batches, one at a time: the first fails, the third is still waiting for its slot
            run(_remote(server, max_parallel_requests=1), tmp_path / "a", num_records=5)
        gc.collect()
    finally:
        server.stop()
    assert [str(u.exc_value) for u in ignored] == []  # was ["Event loop is closed"]


def test_remote_settings_stay_out_of_the_key_and_the_endpoint_enters_it():
    from ddbuild.fingerprint import model_identity

    def ident(**params) -> object:
        return model_identity(dd.RemoteValidatorParams(endpoint_url="http://v/validate", **params))

    assert ident(timeout=1, max_retries=9, retry_backoff=0.1, max_parallel_requests=16) == ident()
    assert ident(output_schema={"type": "object"}) != ident()
    assert model_identity(dd.RemoteValidatorParams(endpoint_url="http://w/validate")) != ident()
