"""Build, explain (-n) and question (-q): one planner call each; a build then executes the plan."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ddbuild.cli import format_error, render
from ddbuild.cli.progress import TallyReporter, Tee, make_reporter
from ddbuild.cli.session import Session, bind
from ddbuild.cli.targets import Selection
from ddbuild.cli.warnroute import routed_warnings
from ddbuild.errors import ConfigError, DDBuildError, UsageError
from ddbuild.execution.events import Reporter, SerialReporter

if TYPE_CHECKING:
    from ddbuild.cli.options import Options
    from ddbuild.planning.plan import Plan
    from ddbuild.store.base import Store
    from ddbuild.workflow.results import WorkflowResults


@dataclass
class Streams:
    out: TextIO
    err: TextIO

    @classmethod
    def default(cls) -> Streams:
        return cls(sys.stdout, sys.stderr)


def _plan_args(session: Session, selection: Selection) -> dict[str, Any]:
    """The keyword arguments of ``Workflow.plan`` and ``Workflow.run`` that the command line gave."""
    options = session.options
    return {
        "targets": selection.resolved_stages(),
        "resume": options.resume,
        "rerun_from": session.rerun_from_for(selection),
        "always_make": options.always_make,
        "stage_output_overrides": session.overrides_for(selection),
    }


def make_plans(session: Session, *, estimate_cost: bool = False) -> list[Plan]:
    """One Plan per selected workflow. The same call a build makes before it executes.

    ``estimate_cost`` (--explain only): costs from a dry run of each stage whose inputs are known.
    """
    bind(session)
    return [sel.workflow.plan(**_plan_args(session, sel), estimate_cost=estimate_cost)
            for sel in session.selections()]


def _plain(options: Options) -> bool:
    """Options under which a plan is what a plain ``ddbuild [TARGET]...`` would decide."""
    return not (options.always_make or options.rerun_from or options.overrides) and options.resume == "if_possible"


def stamp_plans(session: Session, plans: list[Plan]) -> None:
    """An all-hit plan of plain options leaves an up-to-date stamp for the fast path."""
    if _plain(session.options):
        from ddbuild.cli import stampwrite

        stampwrite.record(session, plans)


def stamp_build(session: Session, results: list[WorkflowResults]) -> None:
    """After a successful build: re-plan with plain options; if that is all hits, stamp it."""
    from ddbuild.cli import stampwrite

    plans = [sel.workflow.plan(targets=sel.resolved_stages()) for sel in session.selections()]
    stampwrite.record(session, plans, views=stampwrite.view_files(results))


def explain(session: Session, streams: Streams) -> int:
    """Print the plan; then an invalid config (a stage shown as error) exits 2, as a build would."""
    plans = make_plans(session, estimate_cost=True)
    stamp_plans(session, plans)
    if session.options.json_output:
        streams.out.write(render.explain_json(plans, build_file=session.build.path.name))
    elif not session.options.silent:
        streams.out.write(render.explain_text(plans, verbose=session.options.verbose > 0))
    raise_invalid_config(plans)
    return 0


def raise_invalid_config(plans: list[Plan]) -> None:
    """A stage the build would refuse before running anything raises what the build raises: an
    invalid config or unusable model is a config error (exit 2), resume=always that cannot reuse
    a stage a ResumeError (exit 1); see docs/cli.md."""
    from ddbuild.execution.executor import planned_error

    for plan in plans:
        for decision in plan.invalid():
            error = planned_error(decision)
            if isinstance(error, ConfigError):
                error.hint = "Fix the stage's config; a build would fail before running anything."
            raise error


def question(session: Session) -> int:
    """make -q: 1 when anything would run, 0 when everything is up to date; prints nothing.

    An invalid config is exit 2 (not "work pending"): building would fail, not bring it up to date."""
    plans = make_plans(session)
    raise_invalid_config(plans)
    if any(plan.has_work for plan in plans):
        return 1
    stamp_plans(session, plans)
    return 0


def status(session: Session, streams: Streams) -> int:
    """Each stage's status; a stage in error prints its reason and exits 2, as --explain does."""
    plans = make_plans(session)
    stamp_plans(session, plans)
    if session.options.json_output:
        streams.out.write(render.explain_json(plans, build_file=session.build.path.name))
    else:
        streams.out.write(render.status_text(plans))
    raise_invalid_config(plans)
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
    failures = getattr(error, "failures", None)  # StagesFailed (-k): every failed stage, by name
    if not failures and not tally.failed():  # raised before any stage ran (invalid config, resume=always)
        streams.err.write(format_error(error, f"build of {selection.name} not started") + "\n")
        return
    failed = list(failures) if failures else ([error.stage] if error.stage else tally.failed()) or ["?"]
    kept = tally.completed()
    where = ", ".join(f"'{name}'" for name in failed) if failures else f"'{failed[-1]}'"
    lines = [format_error(error, f"build of {selection.name} failed at stage {where}")]
    if kept:
        lines.append(f"ddbuild: kept (complete, cached): {', '.join(dict.fromkeys(kept))}")
    rows = tally.rows_done.get(failed[-1], 0)
    if rows:
        lines.append(
            f"ddbuild: kept {rows:,} rows of '{failed[-1]}' as batch checkpoints; the next build resumes there"
        )
    streams.err.write("\n".join(lines) + "\n")


def _build_selection(
    session: Session, selection: Selection, reporter: Any, tally: TallyReporter, streams: Streams,
    results: list[Any],
) -> int:
    """Run one workflow's targets (-j stages at once; with -k, every branch that does not need a failure)."""
    options = session.options
    try:
        done = selection.workflow.run(reporter=reporter, max_parallel_stages=options.jobs or 1,
                                      keep_going=options.keep_going, **_plan_args(session, selection))
    except DDBuildError as error:
        _failure_report(selection, tally, error, streams)
        return error.exit_code
    results.append(done)
    return 0


def fill_usage(tally: TallyReporter, store: Store) -> None:
    """LLM numbers for stages that ran, from their published entries."""
    from ddbuild.planning.plan import Status

    for summary in tally.summaries:
        for outcome in summary.outcomes:
            if outcome.status in (Status.RUN, Status.RESUME) and outcome.llm_requests_sent is None:
                entry = store.get_entry(outcome.key) if outcome.key else None
                for name, value in (render.entry_usage(entry) if entry else {}).items():
                    setattr(outcome, name, value)


def _build_all(
    session: Session, selections: list[Selection], reporter: Reporter, tally: TallyReporter, streams: Streams,
    results: list[Any],
) -> int:
    status = 0
    for selection in selections:
        tally.begin(selection.name)
        code = _build_selection(session, selection, reporter, tally, streams, results)
        tally.end()
        status = status or code
        if code and not session.options.keep_going:
            break
    return status


def build(session: Session, streams: Streams) -> int:
    """Plan + execute every selected workflow; print a summary. Exit code from the error class."""
    _check_exclusive(session)
    if session.options.question:
        return question(session)
    if session.options.explain:
        return explain(session, streams)
    bind(session)
    options = session.options
    selections = session.selections()
    display, close = make_reporter(
        streams.out if options.json_output else streams.err,
        json_lines=options.json_output,
        silent=options.silent,
        verbose=options.verbose,
    )
    tally = TallyReporter()
    reporter = SerialReporter(Tee(tally, *([display] if display else [])))  # also fed by logging's threads
    results: list[Any] = []
    try:  # Ctrl-C: the display closes here, ddbuild.cli.main says so and exits 130
        with routed_warnings(reporter):  # ddbuild's warnings are events of this display
            status = _build_all(session, selections, reporter, tally, streams, results)
    finally:
        close()
    fill_usage(tally, session.cache())
    if options.json_output:
        streams.out.write(json.dumps(render.summary_document(tally.summaries)) + "\n")
    elif not options.silent and not status:
        streams.out.write(render.summary_text(tally.summaries))
    if not status:
        stamp_build(session, results)
    return status
