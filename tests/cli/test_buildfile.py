"""Loading ddfile.py: never builds, finds workflows, and reports broken files with file:line (exit 2)."""

from __future__ import annotations

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
