"""Build files for CLI tests (CHAIN, DAG) and Project: a temp project with an in-process runner."""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

# Three stages, samplers/expressions/custom only: builds in well under a second, no network.
CHAIN = '''
import os
import ddbuild as dd

ROWS = int(os.environ.get("TEST_ROWS", "40"))
LABEL = os.environ.get("TEST_LABEL", "v1")


@dd.custom_column_generator(required_columns=["n"])
def double(row):
    if os.environ.get("TEST_FAIL_STAGE") == "middle":
        raise RuntimeError("middle is broken on purpose")
    row["double"] = row["n"] * 2
    return row


base = (
    dd.DataDesignerConfigBuilder(seed=3)
    .add_column(name="n", column_type="sampler", sampler_type="uniform",
                params={"low": 0, "high": 100, "decimal_places": 0}, convert_to="int")
    .add_column(name="colour", column_type="sampler", sampler_type="category",
                params={"values": ["red", "green", "blue"]})
)
middle = (
    dd.DataDesignerConfigBuilder(seed=4)
    .add_column(dd.CustomColumnConfig(name="double", generator_function=double))
    .add_column(name="label", column_type="expression", expr="{{ colour }}-{{ double }}-" + LABEL)
)
final = dd.DataDesignerConfigBuilder().add_processor(
    dd.SchemaTransformProcessorConfig(name="chat", template={"text": "{{ label }}"})
)

workflow = dd.DataDesigner().compose_workflow(name="chain")
workflow.add_stage("base", base, num_records=ROWS)
workflow.add_stage("middle", middle)
workflow.add_stage("final", final, output="processor:chat")
'''

# A DAG: base feeds two branches; "bad" fails when TEST_FAIL_BRANCH=1 (for -k).
DAG = '''
import os
import ddbuild as dd


@dd.custom_column_generator(required_columns=["n"])
def fragile(row):
    if os.environ.get("TEST_FAIL_BRANCH") == "1":
        raise RuntimeError("branch is broken on purpose")
    row["f"] = row["n"] + 1
    return row


base = dd.DataDesignerConfigBuilder(seed=1).add_column(
    name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9, "decimal_places": 0},
    convert_to="int")
good = dd.DataDesignerConfigBuilder().add_column(name="g", column_type="expression", expr="good {{ n }}")
bad = dd.DataDesignerConfigBuilder().add_column(dd.CustomColumnConfig(name="f", generator_function=fragile))

workflow = dd.DataDesigner().compose_workflow(name="dag")
workflow.add_stage("base", base, num_records=20)
workflow.add_stage("bad", bad, depends_on="base")
workflow.add_stage("good", good, depends_on="base")
'''


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


@dataclass
class Project:
    root: Path

    def write(self, text: str, name: str = "ddfile.py") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run the CLI in-process (CliRunner); the CLI chdirs, so the cwd is restored after."""
        from ddbuild.cli.app import cli

        before = os.getcwd()
        os.chdir(self.root)
        try:
            runner = CliRunner()
            result = runner.invoke(cli, list(args), env=env or {}, prog_name="ddbuild", catch_exceptions=False,
                                   standalone_mode=False)
            code = result.return_value if isinstance(result.return_value, int) else result.exit_code
            return Result(code or 0, result.stdout, result.stderr)
        except Exception as exc:  # DDBuildError etc.: exactly what main() does with it
            from ddbuild.cli import format_error

            code = getattr(exc, "exit_code", None)
            if code is None:
                raise
            return Result(code, "", format_error(exc))
        finally:
            os.chdir(before)

    def main(self, *args: str) -> Result:
        """Through ddbuild.cli.main (the console script's function), capturing output."""
        import contextlib
        import io

        from ddbuild.cli import main

        out, err = io.StringIO(), io.StringIO()
        before = os.getcwd()
        os.chdir(self.root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(before)
        return Result(code, out.getvalue(), err.getvalue())
