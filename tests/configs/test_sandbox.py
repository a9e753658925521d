"""The bounded sandbox renders ordinary templates exactly as Jinja's own sandbox does (its slow twin),
and refuses each limit with the message the corpus relies on."""

from __future__ import annotations

import json
import time

import pytest

from ddbuild import sandbox
from ddbuild.errors import TemplateError, TemplateLimitError
from ddbuild.templating import compile_template, render

ROW = {"a": "hello", "n": 3, "items": [1, 2, 3], "d": {"k": "v", "z": 2}, "f": 1.23456, "tree": [
    {"name": "r", "children": [{"name": "c1", "children": []}, {"name": "c2", "children": []}]}]}

# Ordinary templates, one per line: loops (loop.*), recursion, macros, call blocks, filters, '~'.
ORDINARY = [
    "{{ a }} {{ n }}",
    "{% for x in items %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}",
    "{% for x in items|reverse %}{{ loop.revindex }}{{ loop.cycle('a', 'b') }}{% else %}none{% endfor %}",
    "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}",
    "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}",
    "{% for t in tree recursive %}{{ t.name }}({{ loop(t.children) }}){% endfor %}",
    "{% macro tag(x) %}<{{ x }}>{{ caller() }}{% endmacro %}{% call tag('b') %}in {{ a }}{% endcall %}",
    "{% macro add(x, y=2) %}{{ x + y }}{% endmacro %}{{ add(1) }}{{ add(n, y=n) }}",
    "{% set s %}{{ a|upper }}{% endset %}{{ s ~ '!' ~ n ~ items }}",
    "{{ items|join('-') }} {{ items|map('string')|join }} {{ items|sum }} {{ items|batch(2)|list }}",
    "{{ '%.2f'|format(f) }} {{ '{:>6}'.format(a) }} {{ '%s-%d' % (a, n) }} {{ a|center(11) }}",
    "{{ (a ~ ' ') * 3 }}{{ [1] * 3 }}{{ 2 ** 10 }}{{ items + [4] }}{{ a.replace('l', 'L') }}",
    "{{ range(5)|list }} {{ range(1, 10, 3)|join(',') }} {{ a|indent(2, first=true) }}",
    "{% set ns = namespace(total=0) %}{% for i in range(10) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
    "{{ d|tojson }} {{ items|first }} {{ a|length }} {{ a|truncate(8) }} {{ 'a b c'|wordcount }}",
]


def _plain(source: str) -> str:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    return env.from_string(source).render(ROW)


@pytest.mark.parametrize("source", ORDINARY)
def test_ordinary_templates_render_as_jinja_does(source: str) -> None:
    assert compile_template(source, "t")(ROW) == _plain(source) == render(source, ROW, "t")


# Templates that fail, at compile time or for this row's values: the compiled renderer (the engine's
# path) must fail exactly as render() does, same class and message.
FAILING = [
    "{{ missing }}", "{{ d.nope.deeper }}", "{{ n / 0 }}", "{{ a + n }}", "{{ items[10] }}", "{{ a|nofilter }}",
    "{% for x in items %}", "{{ a.__class__ }}", "{{ 'x' * 4000000000 }}", "{% if %}{% endif %}", "{{ a.mro() }}",
]


@pytest.mark.parametrize("source", FAILING)
def test_a_compiled_template_fails_as_render_does(source: str) -> None:
    with pytest.raises(TemplateError) as slow:
        render(source, ROW, "Column 'c' prompt")
    with pytest.raises(TemplateError) as fast:
        compile_template(source, "Column 'c' prompt")(ROW)
    assert (type(fast.value), fast.value.message) == (type(slow.value), slow.value.message)
    assert fast.value.message.startswith("Column 'c' prompt: ")


@pytest.mark.parametrize("source,message", [
    ("{{ 'x' * 4000000000 }}", "t: '*' would build about 4,000,000,000 characters; the sandbox allows 1,000,000."),
    ("{{ range(10**6) }}", "t: range() would build about 1,000,000 items; the sandbox allows 100,000."),
    ("{{ 7 ** 1000000 }}", "t: '**' would build an integer of about 3,000,000 bits; the sandbox allows 100,000."),
])
def test_limits_name_the_template_owner(source: str, message: str) -> None:
    for renderer in (compile_template(source, "t"), lambda row: render(source, row, "t")):
        with pytest.raises(TemplateLimitError) as caught:
            renderer(ROW)
        assert caught.value.message == message
        assert caught.value.exit_code == 2 and isinstance(caught.value, TemplateError)


def test_the_deadline_stops_a_render_and_is_reset_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.2)
    slow = compile_template("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "t")
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=r"t: rendering took longer than 0.2 s"):
        slow({})
    assert time.monotonic() - started < 2
    assert compile_template("{% for i in range(3) %}{{ i }}{% endfor %}", "t")({}) == "012"  # deadline reset
