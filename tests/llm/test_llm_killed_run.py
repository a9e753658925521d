"""A run killed midway loses only the requests in flight: answered ones are never sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.openai_server import start_server
from tests.packs_helpers import pack_files, stored_responses

SCRIPT = textwrap.dedent(
    """
    import sys
    import ddbuild as dd

    url, cache, artifacts = sys.argv[1:4]
    model = dd.ModelConfig(alias="fast", model="test-model", provider="local",
                           inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=2))
    builder = dd.DataDesignerConfigBuilder(model_configs=[model], seed=5)
    builder.add_column(name="topic", column_type="sampler", sampler_type="uuid", params={})
    builder.add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Tell me about {{ topic }}")
    designer = dd.DataDesigner(artifact_path=artifacts, cache=cache,
                               model_providers=[dd.ModelProvider(name="local", endpoint=url)])
    designer.set_run_config(dd.RunConfig(buffer_size=10))
    designer.create(builder, num_records=40, dataset_name="killed")
    """
)


def _cached_responses(cache: Path) -> int:
    # What is on disk: packs, and the journal's complete lines (a kill can tear the last one).
    return len(stored_responses(cache))


def _run(tmp_path: Path, url: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), url, str(tmp_path / "cache"), str(tmp_path / "artifacts")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_killed_run_does_not_resend_answered_requests(tmp_path: Path) -> None:
    server = start_server(latency_ms=40)
    try:
        first = _run(tmp_path, server.url)
        deadline = time.monotonic() + 30
        while _cached_responses(tmp_path / "cache") < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        answered_before_kill = _cached_responses(tmp_path / "cache")
        assert 8 <= answered_before_kill < 40, answered_before_kill

        server.reset()
        second = _run(tmp_path, server.url)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 0, stderr.decode()
        # Exactly the requests that had no stored answer are sent; nothing answered is paid twice.
        assert server.total == 40 - answered_before_kill
        assert _cached_responses(tmp_path / "cache") == 40
        # The journal of the killed run was adopted: everything is packed, nothing is left over.
        assert not list((tmp_path / "cache" / "llm-journal").iterdir())
        assert 1 <= len(pack_files(tmp_path / "cache")) <= 5
    finally:
        server.stop()
