"""Build, explain (-n) and question (-q): one planner call each; a build then executes the plan."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

from ddbuild.cli import adapters, render
from ddbuild.cli.progress import TallyReporter, Tee, make_reporter
from ddbuild.cli.session import Session, bind
from ddbuild.cli.targets import Selection
from ddbuild.errors import DDBuildError, UsageError


@dataclass
class Streams:
    out: TextIO
    err: TextIO

    @classmethod
    def default(cls) -> Streams:
        return cls(sys.stdout, sys.stderr)


def _plan_args(session: Session, selection: Selection) -> dict[str, Any]:
    options = session.options
    return {
        "targets": selection.resolved_stages(),
        "resume": options.resume,
        "rerun_from": session.rerun_from_for(selection),
        "always_make": options.always_make,
        "overrides": session.overrides_for(selection),
    }


def make_plans(session: Session) -> list[Any]:
    """One Plan per selected workflow. The same call a build makes before it executes."""
    bind(session)
    return [adapters.plan(sel.workflow, **_plan_args(session, sel)) for sel in session.selections()]


def explain(session: Session, streams: Streams) -> int:
    plans = make_plans(session)
    if session.options.json_output:
        streams.out.write(render.explain_json(plans, build_file=session.build.path.name))
    elif not session.options.silent:
        streams.out.write(render.explain_text(plans, verbose=session.options.verbose > 0))
    return 0


def question(session: Session) -> int:
    """make -q: 1 when anything would run, 0 when everything is up to date; prints nothing."""
    return 1 if any(plan.has_work for plan in make_plans(session)) else 0


def status(session: Session, streams: Streams) -> int:
    plans = make_plans(session)
    if session.options.json_output:
        streams.out.write(render.explain_json(plans, build_file=session.build.path.name))
    else:
        streams.out.write(render.status_text(plans))
    return 0


def _check_exclusive(session: Session) -> None:
    options = session.options
    if options.explain and options.question:
        raise UsageError("--explain and --question are exclusive.")
    if options.silent and options.verbose:
        raise UsageError("--silent and --verbose are exclusive.")


def _failure_report(
    selection: Selection, tally: TallyReporter, error: DDBuildError, streams: Streams
) -> None:
    failed = tally.failed() or ["?"]
    kept = tally.completed()
    lines = [f"ddbuild: build of {selection.name} failed at stage '{failed[0]}': {error}"]
    if kept:
        lines.append(f"ddbuild: kept (complete, cached): {', '.join(kept)}")
    partial = {name: rows for name, rows in tally.rows_done.items() if name in failed and rows}
    for name, rows in partial.items():
        lines.append(
            f"ddbuild: kept {rows:,} rows of '{name}' as checkpoints; the next build resumes from them"
        )
    lines.append("ddbuild: fix the cause and run the same command again; finished work is not repeated")
    streams.err.write("\n".join(lines) + "\n")


def build(session: Session, streams: Streams) -> int:
    """Plan + execute every selected workflow; print a summary. Exit code from the error class."""
    _check_exclusive(session)
    if session.options.question:
        return question(session)
    if session.options.explain:
        return explain(session, streams)
    bind(session)
    options = session.options
    display, close = make_reporter(
        streams.err if not options.json_output else streams.out,
        json_lines=options.json_output,
        silent=options.silent,
        verbose=options.verbose,
    )
    tally = TallyReporter()
    reporter = Tee(tally, *([display] if display else []))
    status = 0
    try:
        for selection in session.selections():
            tally.begin(selection.name)
            try:
                adapters.run(
                    selection.workflow,
                    **_plan_args(session, selection),
                    reporter=reporter,
                    keep_going=options.keep_going,
                    jobs=options.jobs,
                )
            except DDBuildError as error:
                tally.end()
                close()
                _failure_report(selection, tally, error, streams)
                if not options.keep_going:
                    return error.exit_code
                status = status or error.exit_code
                continue
            tally.end()
    except KeyboardInterrupt:
        close()
        tally.end()
        streams.err.write(
            "\nddbuild: interrupted. Finished stages and batches are kept; run the same command to resume.\n"
        )
        return 130
    close()
    if options.json_output:
        import json

        streams.out.write(json.dumps(render.summary_document(tally.summaries)) + "\n")
    elif not options.silent:
        streams.out.write(render.summary_text(tally.summaries))
    return status
