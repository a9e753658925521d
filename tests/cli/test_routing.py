"""Command-line shape: targets vs subcommands, options before/after targets, env options, errors."""

from __future__ import annotations

import json

from cli_project import CHAIN


def test_bare_target_builds_it(chain):
    result = chain.run("middle")
    assert result.exit_code == 0, result.stderr
    assert "middle" in result.stdout and "final" not in result.stdout  # only the closure of middle


def test_no_target_builds_last_stage(chain):
    result = chain.run()
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == ["base", "middle", "final"]


def test_export_routes_to_subcommand(chain):
    assert chain.run("final").exit_code == 0
    result = chain.run("export", "final", "out.jsonl")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in (chain.root / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and set(rows[0]) == {"text"}


def test_stage_named_like_a_command_needs_build(project):
    project.write(CHAIN.replace('"final"', '"export"').replace("output=", "output="))
    explained = project.run("build", "export", "--explain")
    assert explained.exit_code == 0 and "workflow chain -> export" in explained.stdout
    # the bare spelling is the export command, which wants TARGET and PATH
    assert project.main("export").exit_code == 2


def test_options_after_targets_apply(chain):
    result = chain.run("final", "-n")
    assert result.exit_code == 0 and "workflow chain -> final" in result.stdout
    assert not (chain.root / ".ddbuild" / "cache" / "actions").exists()  # nothing built


def test_options_before_subcommand_are_inherited(chain, tmp_path):
    other = tmp_path.parent / (tmp_path.name + "-elsewhere")
    other.mkdir()
    result = chain.main("-C", str(chain.root), "status")
    assert result.exit_code == 0 and "base" in result.stdout
    result = chain.main("status", "-C", str(chain.root), "--json")
    assert json.loads(result.stdout)["workflows"][0]["workflow"] == "chain"


def test_env_cache_location(chain, tmp_path, monkeypatch):
    cache = tmp_path / "shared-cache"
    monkeypatch.setenv("DDBUILD_CACHE", str(cache))
    assert chain.main("base").exit_code == 0
    assert (cache / "actions").is_dir() and not (chain.root / ".ddbuild" / "cache" / "actions").exists()


def test_cache_option_overrides_env(chain, tmp_path, monkeypatch):
    monkeypatch.setenv("DDBUILD_CACHE", str(tmp_path / "from-env"))
    assert chain.main("--cache", "mine", "base").exit_code == 0
    assert (chain.root / "mine" / "actions").is_dir() and not (tmp_path / "from-env").exists()


def test_unknown_target_suggests_and_lists(chain):
    result = chain.main("midle")
    assert result.exit_code == 2
    assert "Unknown target 'midle'. Did you mean 'middle'?" in result.stderr
    assert "Targets: base, middle, final" in result.stderr


def test_misspelt_command_is_suggested(chain):
    result = chain.main("exprot")
    assert result.exit_code == 2 and "Did you mean the command 'export'?" in result.stderr


def test_version_and_help(chain):
    from ddbuild import __version__

    assert chain.main("--version").stdout.strip() == f"ddbuild {__version__}"
    help_text = chain.main("--help").stdout
    for word in ("[TARGET]...", "export", "status", "graph", "report", "cache", "--explain", "--always-make", "--keep-going"):
        assert word in help_text


def test_several_workflows_need_qualified_names(project):
    text = CHAIN + '''
other = dd.DataDesigner().compose_workflow(name="other")
other.add_stage("base", base, num_records=5)
other.add_stage("extra", middle)
'''
    project.write(text)
    ambiguous = project.main("base", "-n")
    assert ambiguous.exit_code == 2 and "chain:base, other:base" in ambiguous.stderr
    ok = project.main("other:extra", "-n")
    assert ok.exit_code == 0 and "workflow other -> extra" in ok.stdout
    unique = project.main("middle", "-n")
    assert "workflow chain -> middle" in unique.stdout
    default = project.main("-n")
    assert "workflow chain -> final" in default.stdout and "other" not in default.stdout


def test_explain_and_question_are_exclusive(chain):
    assert chain.main("-n", "-q").exit_code == 2
