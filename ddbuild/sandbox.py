"""The bounded Jinja sandbox: limits on what a template builds and a deadline on each render.

Jinja's ``ImmutableSandboxedEnvironment`` stops templates from reaching Python internals but not
from exhausting the machine: ``{{ 'x' * 4000000000 }}`` allocates 4 GB, nested ``range`` loops
never end. ``BoundedSandbox`` adds, for every template of ddbuild (prompts, expressions, schema
transforms):

- sizes: no string (or the text of a value) longer than ``MAX_CHARS``, no list, range or batch
  longer than ``MAX_ITEMS``, no integer wider than ``MAX_INT_BITS``. Checked *before* the work
  where the cost is known from the operands (``*``, ``+``, ``**``, ``%``, ``~``, ``range``,
  ``str.join/replace/ljust/...``, ``format``, the amplifying filters), after it elsewhere (every
  filter and call result), and on every piece of output (``finalize`` and ``concat``);
- time: a deadline per render (``RENDER_SECONDS``), checked at every call (macros, methods,
  globals) and every few iterations of every ``{% for %}`` loop (the loop iterable is wrapped at
  compile time), the only two ways a template can repeat work.

A violation raises ``LimitExceeded``; ``ddbuild.templating`` turns it into a ``TemplateLimitError``
naming the template's owner (column, processor). Constant folding is off, so nothing of a user's
template runs at compile time.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment, Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_CHARS = 1_000_000  # longest string (or str() of a value) a template may build
MAX_ITEMS = 100_000  # longest list, range, batch or join a template may build
MAX_INT_BITS = 100_000  # widest integer (about 30,000 digits)
RENDER_SECONDS = 2.0  # wall-clock budget of one render (templates render in microseconds)
_CHECK_EVERY = 64  # loop iterations between two deadline checks

LOOP_GUARD = "ddbuild_loop_guard"  # injected filters (a user template may name them too; harmless)
CONCAT_GUARD = "ddbuild_concat"


class LimitExceeded(Exception):
    """A template went past a size or time limit (deliberately not a TypeError/LookupError, which
    Jinja swallows in places)."""


_state = threading.local()


def begin_render() -> float:
    """Start the deadline of one render on this thread; returns the previous one for ``end_render``."""
    previous = getattr(_state, "deadline", float("inf"))
    _state.deadline = time.monotonic() + RENDER_SECONDS
    return previous


def end_render(previous: float) -> None:
    _state.deadline = previous


def _check_deadline() -> None:
    if time.monotonic() > getattr(_state, "deadline", float("inf")):
        raise LimitExceeded(f"rendering took longer than {RENDER_SECONDS:g} s (a loop or recursion too large).")


def approx_len(value: Any, budget: int = MAX_CHARS) -> int:
    """About how many characters ``str(value)`` takes, counted only up to just past ``budget``.

    Early exit keeps it cheap on huge shared structures (``[big] * 100000``). Unknown objects
    count as small: they cannot be made large by a template.
    """
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = 2
        for item in value.items() if isinstance(value, dict) else value:
            total += 2 + approx_len(item, budget - total)
            if total > budget:
                break
        return total
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    return 0


def _too_long(what: str, size: int, limit: int = MAX_CHARS, unit: str = "characters") -> LimitExceeded:
    return LimitExceeded(f"{what} would build about {size:,} {unit}; the sandbox allows {limit:,}.")


def _check_text(value: Any, what: str) -> None:
    size = approx_len(value)
    if size > MAX_CHARS:
        raise _too_long(what, size)


def _check_sequence_len(size: int, what: str, text: bool) -> None:
    limit, unit = (MAX_CHARS, "characters") if text else (MAX_ITEMS, "items")
    if size > limit:
        raise _too_long(what, size, limit, unit)


def _check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"{what} would build an integer of about {bits:,} bits; the sandbox allows {MAX_INT_BITS:,}.")


def _check_format(fmt: str, args: Any, marker: str, what: str) -> None:
    """``fmt % args`` / ``fmt.format(*args)``: widths in the format and output size, before the work."""
    for digits in _DIGITS.findall(fmt):
        if len(digits) > 7 or int(digits) > MAX_CHARS:
            raise LimitExceeded(f"{what}: the width or precision {digits[:12]} exceeds {MAX_CHARS:,}.")
    values = list(args.values()) if isinstance(args, dict) else list(args) if isinstance(args, (list, tuple)) else [args]
    widest = max((approx_len(v) for v in values), default=0)
    if "*" in fmt and any(isinstance(v, int) and v > MAX_CHARS for v in values):
        raise LimitExceeded(f"{what}: a '*' width exceeds {MAX_CHARS:,}.")
    size = len(fmt) + fmt.count(marker) * widest
    if size > MAX_CHARS:
        raise _too_long(what, size)


# -- binary operators ------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_TEXT = (str, bytes)
_SEQ = (str, bytes, list, tuple)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, _SEQ) and isinstance(n, int):
                _check_sequence_len(len(seq) * max(n, 0), "'*'", isinstance(seq, _TEXT))
        if isinstance(left, int) and isinstance(right, int):
            _check_int_bits(left.bit_length() + right.bit_length(), "'*'")
    elif operator == "+":
        if isinstance(left, _SEQ) and isinstance(right, _SEQ):
            _check_sequence_len(len(left) + len(right), "'+'", isinstance(left, _TEXT))
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _check_int_bits(min(right, 2**62) * left.bit_length(), "'**'")
    elif operator == "%" and isinstance(left, str):
        _check_format(left, right, "%", "'%' formatting")


# -- calls: str methods, globals -------------------------------------------------------------

_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _replace_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
    elif isinstance(text, bytes) and isinstance(old, bytes) and isinstance(new, bytes):
        hits = text.count(old) if old else len(text) + 1
    else:  # not text, or str mixed with bytes: the call itself raises Jinja's/Python's error
        return 0
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _check_text_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    what = f"str.{name}()"
    if name in _WIDTH_METHODS:
        width = _arg(args, kwargs, 0, "width")
        if isinstance(width, int):
            _check_sequence_len(width, what, True)
    elif name == "expandtabs":
        tabsize = _arg(args, kwargs, 0, "tabsize", 8)
        if isinstance(tabsize, int):
            _check_sequence_len(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * tabsize, what, True)
    elif name == "replace":
        size = _replace_size(owner, _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new"), _arg(args, kwargs, 2, "count"))
        _check_sequence_len(size, what, True)


def _join_size(separator: Any, items: list[Any]) -> int:
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        total += approx_len(item)
        if total > MAX_CHARS:
            break
    return total


def bounded_range(*args: int) -> range:
    """``range`` with at most ``MAX_ITEMS`` items."""
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = MAX_ITEMS + 1
    _check_sequence_len(size, "range()", False)
    return numbers


def _bounded_lipsum(original: Callable[..., Any]) -> Callable[..., Any]:
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:  # noqa: A002 - Jinja's names
        if isinstance(n, int) and isinstance(max, int):
            _check_sequence_len(n * max, "lipsum()", False)
        return original(n, html, min, max)

    return lipsum


# -- filters ---------------------------------------------------------------------------------

_STRINGIFYING = frozenset({"string", "tojson", "pprint", "safe", "e", "escape", "forceescape", "urlencode",
                           "xmlattr", "urlize", "list"})


def _filter_precheck(name: str, a: dict[str, Any]) -> None:
    """Checks before a filter runs, on its bound arguments (names as in jinja2.filters)."""
    what = f"the '{name}' filter"
    if name in _STRINGIFYING:
        _check_text(a.get("value", a.get("obj", a.get("s"))), what)
    elif name == "center" and isinstance(a.get("width"), int):
        _check_sequence_len(a["width"], what, True)
    elif name == "indent":
        text, width = a.get("s"), a.get("width")
        pad = width if isinstance(width, int) else len(width) if isinstance(width, str) else 0
        if isinstance(text, str):
            _check_sequence_len(len(text) + (text.count("\n") + 1) * pad, what, True)
    elif name == "replace":
        _check_sequence_len(_replace_size(a.get("s"), a.get("old"), a.get("new"), a.get("count")), what, True)
    elif name == "wordwrap" and isinstance(a.get("s"), str):
        text, wrap = a["s"], a.get("wrapstring") or "\n"
        breaks = len(text) // max(int(a.get("width") or 1), 1) + text.count(" ") + text.count("\n") + 1
        _check_sequence_len(len(text) + breaks * len(wrap), what, True)
    elif name == "batch" and isinstance(a.get("linecount"), int):
        _check_sequence_len(a["linecount"], what, False)
    elif name == "slice" and isinstance(a.get("slices"), int):
        _check_sequence_len(a["slices"], what, False)
    elif name == "sum" and isinstance(a.get("start"), (*_SEQ, list)):
        items = a["iterable"] if isinstance(a.get("iterable"), (list, tuple)) else []
        size = len(a["start"]) + sum(len(x) if isinstance(x, _SEQ) else 1 for x in items[:MAX_ITEMS + 1])
        _check_sequence_len(size, what, isinstance(a["start"], _TEXT))


_PRECHECKED = _STRINGIFYING | {"center", "indent", "replace", "wordwrap", "batch", "slice", "sum"}
# Filters whose output can outgrow their input; the others (upper, trim, length, sort, ...) return
# at most what they got, and what they return meets ``finalize`` or the next guard anyway.
BOUNDED_FILTERS = _PRECHECKED | {"join", "format"}


def _materialised(value: Any) -> Any:
    """A generator argument as a list (so a size check does not consume what the filter reads)."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset, range)) or not isinstance(value, Iterable):
        return value
    items = []
    for item in value:
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise _too_long("an iterator", len(items), MAX_ITEMS, "items")
    return items


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(function)
    passes_context = getattr(function, "jinja_pass_arg", None) is not None

    @functools.wraps(function)  # copies jinja_pass_arg, so Jinja passes the same context argument
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name == "format" and args and isinstance(args[0], str):
            _check_format(args[0], [*args[1:], *kwargs.values()], "%", "the 'format' filter")
        elif name == "join":
            index = 1 if passes_context else 0
            args = (*args[:index], _materialised(args[index]), *args[index + 1 :])
            sep = args[index + 1] if len(args) > index + 1 else kwargs.get("d", "")
            _check_sequence_len(_join_size(sep if isinstance(sep, str) else "", args[index]), "the 'join' filter", True)
        elif name in _PRECHECKED:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                bound = None  # a wrong call: let the filter raise its own error
            if bound is not None:
                bound.apply_defaults()
                _filter_precheck(name, bound.arguments)
        result = function(*args, **kwargs)
        _check_text(result, f"the '{name}' filter")
        return result

    return bounded


# -- the AST rewrite: loops and '~' go through guards ----------------------------------------


def _guard_loops(ast: Any) -> Any:
    """Wrap each ``{% for %}`` iterable in ``LOOP_GUARD`` and each ``a ~ b`` in ``CONCAT_GUARD``.

    Both are filters, not calls: Jinja calls a filter directly, a global through the sandbox's
    ``call`` (three times slower on a small loop).
    """
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    class Guard(NodeTransformer):
        def visit_For(self, node: Any) -> Any:  # noqa: N802 - Jinja's visitor naming
            self.generic_visit(node)
            node.iter = nodes.Filter(node.iter, LOOP_GUARD, [], [], None, None, lineno=node.lineno)
            return node

        def visit_Concat(self, node: Any) -> Any:  # noqa: N802
            self.generic_visit(node)
            first, *rest = node.nodes
            return nodes.Filter(first, CONCAT_GUARD, rest, [], None, None, lineno=node.lineno)

    return Guard().visit(ast)


class _Guarded:
    """A loop iterable that checks the render deadline every few items; keeps ``len`` when it has one."""

    __slots__ = ("_items",)

    def __init__(self, items: Any) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        for count, item in enumerate(self._items):
            if not count % _CHECK_EVERY:
                _check_deadline()
            yield item


def _concat(*values: Any) -> str:
    """``a ~ b ~ ...``: the joined text, size-checked before it is built."""
    size = 0
    for value in values:
        size += approx_len(value)
        if size > MAX_CHARS:
            raise _too_long("'~'", size)
    return "".join(map(str, values))


def bounded_concat(parts: Iterable[str]) -> str:
    """Jinja's ``concat`` (output of a template, a macro or a ``{% set %}`` block), size-checked
    before the join. Listing the pieces first holds references only (each piece already passed
    ``finalize``); their number is bounded by the render deadline."""
    pieces = list(parts)
    size = sum(map(len, pieces))
    if size > MAX_CHARS:
        raise _too_long("the output", size)
    return "".join(pieces)


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` before it becomes text (the common short string is one type check)."""
    if type(value) is str:
        if len(value) > MAX_CHARS:
            raise _too_long("an output value", len(value))
    elif isinstance(value, _CONTAINERS):  # numbers need no check: str() refuses > 4300 digits
        _check_text(value, "an output value")
    return value


def new_environment(
    filters: dict[str, Callable[..., Any]] | None = None, **options: Any
) -> ImmutableSandboxedEnvironment:
    """A ``BoundedSandbox`` with Jinja's filters plus ``filters``, every one of them bounded."""
    env = _sandbox_class()(finalize=_finalize, optimized=False, **options)
    env.filters.update(filters or {})
    env.filters = {name: _bounded_filter(name, f) if name in BOUNDED_FILTERS else f
                   for name, f in env.filters.items()}
    return env


def compile_bounded(env: Environment, source: str) -> Template:
    """Parse ``source``, guard its loops and concatenations, and compile it in ``env``."""
    return env.from_string(_guard_loops(env.parse(source)))


@functools.lru_cache(maxsize=1)
def _sandbox_class() -> type:
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import generate_lorem_ipsum  # Jinja's default ``lipsum`` global

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox with sizes and time bounded (see the module docstring)."""

        intercepted_binops = frozenset({"*", "+", "**", "%"})

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.concat = bounded_concat  # type: ignore[method-assign]  # Jinja's hook joining output pieces
            self.globals.update({"range": bounded_range, "lipsum": _bounded_lipsum(generate_lorem_ipsum)})
            self.filters.update({LOOP_GUARD: _Guarded, CONCAT_GUARD: _concat})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return self.binop_table[operator](left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's
            _check_deadline()
            args = _check_call(__obj, args, kwargs)
            result = super().call(__context, __obj, *args, **kwargs)
            _check_text(result, f"the result of {getattr(__obj, '__name__', 'a call')}()")
            return result

    return BoundedSandbox


def _check_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Pre-checks of a call from a template; returns ``args`` (a generator given to join, listed)."""
    owner, name = getattr(function, "__self__", None), getattr(function, "__name__", "")
    if name in ("format", "format_map") and hasattr(function, "__wrapped__"):
        fmt = getattr(function.__wrapped__, "__self__", None)  # Jinja's sandboxed str.format wrapper
        if name == "format":
            values = [*args, *kwargs.values()]
        else:
            values = list(args[0].values()) if args and isinstance(args[0], dict) else []
        if isinstance(fmt, str):
            _check_format(fmt, values, "{", f"str.{name}()")
    elif isinstance(owner, _TEXT):
        if name == "join" and args:
            items = _materialised(args[0])
            _check_sequence_len(_join_size(owner, items), "str.join()", True)
            return (items, *args[1:])
        _check_text_method(owner, name, args, kwargs)
    return args
