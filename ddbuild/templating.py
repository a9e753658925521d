"""Jinja2 in a sandbox: parsing, the columns a template reads, and bounded rendering.

Every template (prompts, expressions, schema transforms) goes through this module. The sandbox is
``ddbuild.sandbox``'s bounded version of Jinja's ``ImmutableSandboxedEnvironment`` (sizes and a
deadline per render); on top of it we reject, before anything runs, attribute access to names
starting with ``_`` (``{{ ''.__class__ }}``), and we cap rendered output. A limit crossed is a
``TemplateLimitError`` naming the template's owner: a bug of the config, not of one row.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from ddbuild.errors import TemplateError, TemplateLimitError

MAX_RENDERED_CHARS = 512_000


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined

    from ddbuild.sandbox import new_environment

    return new_environment(
        filters={"tojson": lambda value: json.dumps(value, ensure_ascii=False, default=str)},
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
    )


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> Any:
    return _environment().parse(source)


def check_template(source: str, where: str) -> set[str]:
    """Parse ``source``; return the column names it reads. ``where`` names it in errors."""
    from jinja2 import TemplateSyntaxError, meta, nodes

    try:
        ast = _parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{where}: template does not parse: {exc.message} (line {exc.lineno}).") from exc
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateError(
                f"{where}: template accesses '{attr}', which the sandbox forbids.",
                hint="Templates may read column values and their public fields only.",
            )
    return set(meta.find_undeclared_variables(ast))


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    from ddbuild.sandbox import compile_bounded

    return compile_bounded(_environment(), source)


def render(source: str, row: dict[str, Any], where: str = "template") -> str:
    """Render ``source`` against one row; sandbox violations and oversize output are TemplateErrors."""
    from ddbuild.sandbox import begin_render, end_render

    previous = begin_render()
    try:
        text = _compiled(source).render(row)
    except BaseException as exc:
        _raise_template_error(exc, where)
        raise
    finally:
        end_render(previous)
    if len(text) > MAX_RENDERED_CHARS:
        raise TemplateError(f"{where}: rendered output exceeds {MAX_RENDERED_CHARS} characters.")
    return text


def compile_template(source: str, where: str = "template") -> Callable[[dict[str, Any]], str]:
    """A renderer for many rows: parse once, then per row only build the context and render.

    Same sandbox, output cap and errors as ``render`` (a template that does not compile raises
    here, with render's message); about twice as fast because it skips Jinja's per-call ChainMap
    merge of the globals and the per-call imports (the row-wise engine path: expressions, LLM
    prompts, processors).
    """
    try:
        run = _row_function(source, where, _environment().concat)
    except BaseException as exc:  # a template that does not compile: the TemplateError render() gives
        _raise_template_error(exc, where)
        raise

    def render_row(row: dict[str, Any]) -> str:
        text: str = run(row)
        if len(text) > MAX_RENDERED_CHARS:
            raise TemplateError(f"{where}: rendered output exceeds {MAX_RENDERED_CHARS} characters.")
        return text

    return render_row


def compile_condition(source: str, where: str = "condition") -> Callable[[dict[str, Any]], bool]:
    """A row -> bool test: ``source`` rendered in the same sandbox, its value taken natively (as
    Jinja's NativeEnvironment does: ``{{ n }}`` with ``n == 0`` is false, ``{{ flag }}`` with
    ``False`` is false, ``"{{ x }} and more"`` is a non-empty string, so true). Errors are the
    ``render`` errors: TemplateLimitError for a limit, TemplateError for a row's values."""
    from jinja2.nativetypes import native_concat

    run = _row_function(source, where, native_concat)

    def test_row(row: dict[str, Any]) -> bool:
        return bool(run(row))

    return test_row


def _row_function(source: str, where: str, concat: Callable[[Any], Any]) -> Callable[[dict[str, Any]], Any]:
    """Per row: the compiled ``source`` run in the sandbox over its globals and the row, its output
    pieces joined by ``concat``; a render's failure raised as ``render`` raises it. Compile errors
    are not translated here (the caller decides)."""
    from ddbuild.sandbox import begin_render, end_render

    template = _compiled(source)
    base = dict(template.globals)
    root, new_context = template.root_render_func, template.new_context

    def run(row: dict[str, Any]) -> Any:
        previous = begin_render()
        try:
            return concat(root(new_context({**base, **row}, shared=True)))
        except BaseException as exc:
            _raise_template_error(exc, where)
            raise
        finally:
            end_render(previous)

    return run


def _raise_template_error(exc: BaseException, where: str) -> None:
    """Raise the TemplateError for what a render raised; return for anything else (re-raised as is).

    Limits (sizes, the deadline, recursion, memory) are ``TemplateLimitError``: the template is
    wrong for every row. Jinja's own errors and Python errors of one row's values (a division by
    zero, a missing key) are ``TemplateError``.
    """
    from jinja2 import TemplateError as JinjaTemplateError
    from jinja2.sandbox import SecurityError

    from ddbuild.sandbox import LimitExceeded

    if isinstance(exc, LimitExceeded):
        raise TemplateLimitError(f"{where}: {exc}", hint=_limit_hint()) from None
    if isinstance(exc, RecursionError):
        raise TemplateLimitError(f"{where}: recursion too deep (a macro that calls itself without end?).") from None
    if isinstance(exc, MemoryError):
        raise TemplateLimitError(f"{where}: ran out of memory while rendering.", hint=_limit_hint()) from None
    if isinstance(exc, SecurityError):
        raise TemplateError(f"{where}: sandbox violation: {exc}") from exc
    if isinstance(exc, JinjaTemplateError):
        raise TemplateError(f"{where}: {exc}") from exc
    if isinstance(exc, (ArithmeticError, TypeError, ValueError, LookupError)):
        raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _limit_hint() -> str:
    from ddbuild.sandbox import MAX_CHARS, MAX_ITEMS, RENDER_SECONDS

    return (f"The sandbox allows {MAX_CHARS:,} characters per value, {MAX_ITEMS:,} items per list or range "
            f"and {RENDER_SECONDS:g} s per render; make the template do less.")
