"""An API key named by a variable reaches the endpoint and nothing else: no key, log line, artifact,
cache file or error message holds it, including the error of a rejected key (HTTP 401).

Real builds in a subprocess (``python -m ddbuild.cli``) against the test server; afterwards the
whole project (artifacts, views, ./.ddbuild/cache), stdout and stderr are searched for the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.openai_server import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]

BUILD_FILE = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"], api_key="DDB_SECRET_TEST_KEY")
fast = dd.ModelConfig(alias="fast", model="stub-model", provider="stub")
topics = dd.DataDesignerConfigBuilder(model_configs=[fast])
topics.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b", "c"]})
topics.add_column(name="text", column_type="llm-text", model_alias="fast",
                  prompt=os.environ.get("TEST_PROMPT", "Write about {{ topic }}"))
workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="secrets")
workflow.add_stage("texts", topics, num_records=6)
'''



def _ddbuild(root: Path, server: FakeOpenAIServer, secret: str | None, *args: str,
             prompt: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDBUILD_", "DDB_SECRET"))}
    env.update(PYTHONPATH=str(REPO), STUB_URL=server.url)
    if secret is not None:
        env["DDB_SECRET_TEST_KEY"] = secret
    if prompt is not None:
        env["TEST_PROMPT"] = prompt
    return subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def _files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_api_key_never_leaves_the_request(tmp_path, server):
    root = tmp_path / "project"
    root.mkdir()
    (root / "ddfile.py").write_text(BUILD_FILE)
    secret = f"sk-ddb-{uuid.uuid4().hex}"

    built = _ddbuild(root, server, secret, "-vv")
    assert built.returncode == 0, built.stderr
    assert server.total == 6 and {r.authorization for r in server.records} == {f"Bearer {secret}"}

    explained = _ddbuild(root, server, secret, "--explain", "-v")
    status = _ddbuild(root, server, secret, "status", "--json")
    server.add_fault("401", times=None)  # rejects the key and echoes it back in the body
    rejected = _ddbuild(root, server, secret, "-vv", prompt="Now about {{ topic }}")
    assert rejected.returncode != 0 and server.by_status[401] == 6
    assert "HTTP 401" in rejected.stderr and "Incorrect API key provided: ***" in rejected.stderr, rejected.stderr

    for run in (built, explained, status, rejected):
        assert secret not in run.stdout and secret not in run.stderr
    assert (root / "artifacts").is_dir() and (root / ".ddbuild" / "cache").is_dir()
    assert _files_holding(root, secret) == []


def test_explain_names_the_unset_key_variable_and_sends_nothing(tmp_path, server):
    root = tmp_path / "project"
    root.mkdir()
    (root / "ddfile.py").write_text(BUILD_FILE)
    explained = _ddbuild(root, server, None, "--explain")
    assert explained.returncode == 2
    assert (
        "Stage 'texts': Model provider 'stub' reads its API key from the environment variable "
        "DDB_SECRET_TEST_KEY, which is not set; model alias 'fast' (column 'text') needs it."
    ) in explained.stdout + explained.stderr
    built = _ddbuild(root, server, None)
    assert built.returncode == 2 and "DDB_SECRET_TEST_KEY, which is not set" in built.stderr
    assert server.total == 0
