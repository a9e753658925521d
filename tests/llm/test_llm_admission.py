"""Request admission (Data Designer's AIMD) against a server that refuses work above a concurrency
limit, the deprecated ThrottleConfig spelling, and a refused connection failing a build at once."""

from __future__ import annotations

import time
import warnings

import pytest

import ddbuild as dd
from tests.openai_server import start_server

ROWS = 400


def _designer(url: str, run_config: dd.RunConfig) -> dd.DataDesigner:
    designer = dd.DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=url)])
    designer.set_run_config(run_config)
    return designer


def _builder(max_parallel_requests: int, rows: int = ROWS) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="m", model="limited-model", provider="local",
                           inference_parameters={"max_parallel_requests": max_parallel_requests})
    b = dd.DataDesignerConfigBuilder(model_configs=[model], seed=1)
    b.add_column(name="i", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(name="answer", column_type="llm-text", model_alias="m", prompt="Row {{ i }}")
    return b


def _build(tmp_path, monkeypatch, url: str, run_config: dd.RunConfig, max_parallel_requests: int,
           rows: int = ROWS):
    monkeypatch.chdir(tmp_path)
    wf = _designer(url, run_config).compose_workflow(name="w")
    wf.add_stage("s", _builder(max_parallel_requests), num_records=rows)
    return wf.run().load_dataset()


def test_in_flight_converges_below_the_servers_limit_and_no_row_fails(tmp_path, monkeypatch):
    server = start_server(latency_ms=20)
    server.set_concurrency_limit(6)  # 429 for a 7th request in flight, without Retry-After
    tuning = dd.RequestAdmissionTuningConfig(cooldown_seconds=0.05, successes_until_increase=10)
    try:
        df = _build(tmp_path, monkeypatch, server.url, dd.RunConfig(request_admission=tuning), 24)
        refused, answered = server.by_status[429], server.by_status[200]
        arrivals = server.arrivals
    finally:
        server.stop()
    assert len(df) == ROWS and df["answer"].str.startswith("reply to: Row ").all()
    assert answered == ROWS  # every row answered once; the 429s were retried
    assert 0 < refused < ROWS / 4
    assert max(arrivals[:30]) > 6  # it started at 24 in flight and was pushed back...
    # ...then stays within one additive step of the limit: probing at 7 is refused, never more.
    assert max(arrivals[len(arrivals) // 2:]) <= 7, arrivals[len(arrivals) // 2:]


def test_a_fixed_limit_at_the_threshold_is_never_refused(tmp_path, monkeypatch):
    server = start_server(latency_ms=20)
    server.set_concurrency_limit(6)
    try:
        df = _build(tmp_path, monkeypatch, server.url, dd.RunConfig(), 6, rows=60)
    finally:
        server.stop()
    assert len(df) == 60 and server.by_status == {200: 60} and server.max_in_flight == 6


def test_startup_ramp_starts_at_one_request_in_flight(tmp_path, monkeypatch):
    # The limit grows by one every ramp/(cap-1) = 0.5 s: the first three requests (30 ms each)
    # have a margin of 5x to arrive one at a time, even on a loaded machine. Enough rows that the
    # build outlasts the ramp (about 460 requests are answered during it) and reaches the cap.
    server = start_server(latency_ms=30)
    tuning = dd.RequestAdmissionTuningConfig(startup_ramp_seconds=3.5)
    try:
        df = _build(tmp_path, monkeypatch, server.url, dd.RunConfig(request_admission=tuning), 8, rows=900)
        arrivals = server.arrivals
    finally:
        server.stop()
    assert len(df) == 900
    assert arrivals[:3] == [1, 1, 1]  # one at a time at first...
    assert max(arrivals) == 8  # ...up to max_parallel_requests once the ramp is over


def test_throttle_config_is_the_deprecated_spelling_of_request_admission():
    with pytest.warns(DeprecationWarning, match=r"RunConfig\.throttle .*request_admission"):
        run = dd.RunConfig(throttle=dd.ThrottleConfig(reduce_factor=0.5, additive_increase=2, success_window=7,
                                                      cooldown_seconds=1.5, ceiling_overshoot=0.3,
                                                      rampup_seconds=30))
    assert run.request_admission == dd.RequestAdmissionTuningConfig(
        multiplicative_decrease_factor=0.5, additive_increase_step=2, successes_until_increase=7,
        cooldown_seconds=1.5, startup_ramp_seconds=30)
    with pytest.warns(DeprecationWarning):
        from_yaml = dd.RunConfig.model_validate({"throttle": {"reduce_factor": 0.5}})
    assert from_yaml.request_admission.multiplicative_decrease_factor == 0.5
    assert dd.RunConfig().request_admission is None
    with warnings.catch_warnings(), pytest.raises(ValueError, match="not both"):
        warnings.simplefilter("ignore", DeprecationWarning)
        dd.RunConfig(throttle={}, request_admission={})


def test_request_admission_defaults_are_data_designers():
    tuning = dd.RequestAdmissionTuningConfig()
    assert tuning.model_dump() == {"multiplicative_decrease_factor": 0.75, "additive_increase_step": 1,
                                   "successes_until_increase": 25, "cooldown_seconds": 2.0,
                                   "startup_ramp_seconds": 0.0}
    with pytest.raises(ValueError, match="multiplicative_decrease_factor"):
        dd.RequestAdmissionTuningConfig(multiplicative_decrease_factor=1.0)


def test_a_refused_connection_fails_the_build_naming_the_endpoint_without_retrying(tmp_path, monkeypatch):
    server = start_server()
    url, port = server.url, server.port
    server.stop()  # nothing listens on the port now
    monkeypatch.chdir(tmp_path)
    wf = _designer(url, dd.RunConfig()).compose_workflow(name="w")  # max_retries=5: ~15 s if retried
    wf.add_stage("s", _builder(4), num_records=8)
    started = time.monotonic()
    with pytest.raises(dd.errors.EarlyShutdownError) as failed:
        wf.run()
    elapsed = time.monotonic() - started
    message = str(failed.value)
    assert f"POST {url}/chat/completions failed: connection refused: nothing listens at 127.0.0.1:{port}" in message
    assert "after" not in message.split("connection refused")[0][-20:]  # one attempt: no "after N attempts"
    print(f"refused connection: the build failed in {elapsed:.2f} s")  # reported, not asserted
