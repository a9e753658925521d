"""A Data Designer user's setup, through the CLI: no providers declared, a default alias
(``nvidia-text``), the user's ~/.data-designer files (in a temporary HOME), the key in NVIDIA_API_KEY.
Requests are counted at the test server, which the user's model_providers.yaml points nvidia at.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from cli_project import Project

BUILD_FILE = '''
import ddbuild as dd

builder = dd.DataDesignerConfigBuilder()  # no model configs: Data Designer's default aliases
builder.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]})
builder.add_column(name="answer", column_type="llm-text", model_alias="nvidia-text", prompt="Say {{ topic }}")
workflow = dd.DataDesigner().compose_workflow(name="home")  # no model_providers
workflow.add_stage("answers", builder, num_records=5)
'''

UNSET = (
    "Stage 'answers': Model provider 'nvidia' reads its API key from the environment variable NVIDIA_API_KEY, "
    "which is not set; model alias 'nvidia-text' (column 'answer') needs it."
)



def _home(root: Path, url: str, model: str) -> Path:
    folder = root / "home" / ".data-designer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_providers.yaml").write_text(textwrap.dedent(f"""\
        providers:
        - name: nvidia
          endpoint: {url}
          provider_type: openai
          api_key: NVIDIA_API_KEY
        """))
    (folder / "model_configs.yaml").write_text(textwrap.dedent(f"""\
        model_configs:
        - alias: nvidia-text
          model: {model}
          provider: nvidia
        """))
    return folder


def test_default_alias_and_user_files_through_the_cli(tmp_path, monkeypatch, server):
    monkeypatch.delenv("DATA_DESIGNER_HOME", raising=False)
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _home(tmp_path, server.url, "model-one")
    project = Project(tmp_path / "project")
    project.root.mkdir()
    project.write(BUILD_FILE)

    explained = project.main("--explain")
    assert explained.exit_code == 2 and UNSET in explained.stdout + explained.stderr
    built = project.main()
    assert built.exit_code == 2 and UNSET in built.stderr
    assert server.total == 0  # refused before anything was sent

    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test")
    assert project.main().exit_code == 0
    assert server.total == 5 and {r.model for r in server.records} == {"model-one"}
    assert {r.authorization for r in server.records} == {"Bearer nvapi-test"}
    assert project.main().exit_code == 0 and server.total == 5  # up to date

    _home(tmp_path, server.url, "model-two")  # the user edits their model_configs.yaml
    again = project.main()
    assert again.exit_code == 0, again.stderr
    assert server.total == 10 and server.by_model["model-two"] == 5  # the stage's key changed
