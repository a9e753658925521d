"""Loading ddfile.py: never builds, finds workflows, and reports broken files with file:line (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from cli_project import CHAIN


def test_loading_builds_nothing(chain):
    from ddbuild.cli.buildfile import load, locate

    build = load(locate(None, str(chain.root)))
    assert [wf.name for wf in build.workflows] == ["chain"]
    assert not (chain.root / ".ddbuild").exists() and not (chain.root / "artifacts").exists()


def test_syntax_error_shows_file_line_and_caret(project):
    project.write("import ddbuild as dd\nworkflow = (\n  x = 1\n")
    result = project.main("-n")
    assert result.exit_code == 2
    assert "ddfile.py:" in result.stderr and "SyntaxError" in result.stderr


def test_exception_at_import_shows_line(project):
    project.write(CHAIN + "\nworkflow.add_stage('base', base)\n")
    result = project.main("-n")
    assert result.exit_code == 2
    line = len(CHAIN.splitlines()) + 2
    assert f"ddfile.py:{line}: build file failed to load: WorkflowError" in result.stderr
    assert "already used" in result.stderr and "workflow.add_stage('base', base)" in result.stderr


def test_no_workflow(project):
    project.write("x = 1\n")
    result = project.main()
    assert result.exit_code == 2 and "defines no workflow" in result.stderr


def test_missing_build_file(project):
    result = project.main()
    assert result.exit_code == 2 and "No ddfile.py in" in result.stderr


def test_ddbuild_py_is_refused_with_advice(project):
    project.write("x = 1\n", name="ddbuild.py")
    result = project.main()
    assert result.exit_code == 2 and "rename it to ddfile.py" in result.stderr
    assert project.main("-f", "ddbuild.py").exit_code == 2


def test_dash_f_and_dash_c(project, tmp_path):
    sub = project.root / "sub"
    sub.mkdir()
    (sub / "pipeline.py").write_text(CHAIN)
    result = project.main("-C", "sub", "-f", "pipeline.py", "-n")
    assert result.exit_code == 0 and "workflow chain" in result.stdout
    result = project.main("-f", "sub/pipeline.py", "base")
    assert result.exit_code == 0
    assert (sub / ".ddbuild" / "cache").is_dir()  # the CLI works in the build file's directory
    assert project.main("-C", "nowhere").exit_code == 2


def test_workflows_list_orders_and_filters(project):
    project.write(CHAIN + '''
other = dd.DataDesigner().compose_workflow(name="other")
other.add_stage("solo", base, num_records=5)
WORKFLOWS = [other, workflow]
''')
    result = project.main("-n")
    assert result.exit_code == 0 and "workflow other -> solo" in result.stdout


def test_workflows_list_must_hold_workflows(project):
    project.write(CHAIN + "\nWORKFLOWS = [workflow, 42]\n")
    result = project.main("-n")
    assert result.exit_code == 2 and "WORKFLOWS must list Workflow objects" in result.stderr


LLM_FILE = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="stub", endpoint=os.environ["STUB_URL"], api_key="env:STUB_KEY")
model = dd.ModelConfig(alias="m", model="stub-model", provider="stub")
designer = dd.DataDesigner(model_providers=[provider])
builder = dd.DataDesignerConfigBuilder(model_configs=[model]).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9, "decimal_places": 0},
    convert_to="int").add_column(name="said", column_type="llm_text", model_alias="m", prompt="Say {{ n }}")
workflow = designer.compose_workflow(name="talk")
workflow.add_stage("talk", builder, num_records=4)
'''


@pytest.mark.parametrize("call", ["workflow.run()", "designer.create(builder, num_records=4)",
                                  "designer.preview(builder, num_records=4)"])
def test_a_build_file_that_builds_on_import_is_refused_before_any_request(project, call):
    """Issue 10 §5: `ddbuild --explain` on a file that calls run()/create()/preview() at module level
    used to run the whole build (every request sent). Now: exit 2, 0 requests, the file:line and the fix."""
    from tests.openai_server import start_server

    project.write(LLM_FILE + call + "\n")
    line = len(textwrap.dedent(LLM_FILE).splitlines()) + 1
    server = start_server()
    try:
        env = {**os.environ, "STUB_URL": server.url, "STUB_KEY": "k", "DDBUILD_NO_FASTPATH": "1"}
        for args in (["--explain"], ["-q"], []):
            proc = subprocess.run([sys.executable, "-m", "ddbuild.cli", *args], cwd=project.root,
                                  capture_output=True, text=True, timeout=120, env=env)
            assert proc.returncode == 2, proc.stderr
            assert server.total == 0
            name = call.split("(")[0].split(".")[1]
            what = {"run": "workflow.run() (workflow 'talk')", "create": "DataDesigner.create()",
                    "preview": "DataDesigner.preview()"}[name]
            assert proc.stderr.splitlines() == [
                f"ddbuild: error: {project.root / 'ddfile.py'}:{line}: the build file calls {what} while "
                "ddbuild loads it; nothing was built, no request sent.",
                '  hint: Put the call under `if __name__ == "__main__":` (ddfile.py then still builds with '
                "`python ddfile.py`); ddbuild loads the file only to find its workflows and builds the targets "
                "itself.",
            ]
        assert not (project.root / "artifacts").exists()
        # The fix works: guarded, the file loads and plans (still nothing sent by --explain).
        project.write(LLM_FILE + 'if __name__ == "__main__":\n    ' + call + "\n")
        proc = subprocess.run([sys.executable, "-m", "ddbuild.cli", "--explain"], cwd=project.root,
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0 and "talk" in proc.stdout and server.total == 0, proc.stderr
    finally:
        server.stop()
