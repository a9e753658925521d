"""The malformed-config corpus: one line per case. A new finding is one more line.

Each case is Python code (an expression, evaluated by tests/configs/harness.py with its helpers:
``stage``, ``plan``, ``first_batch``, ``expr``, ``sampler``, ``custom``, ``llm``, ``fault``, ...)
and what must come of it: ``err(class, regex)`` -- that exception class (or a subclass), with a
message naming the field / column / stage -- or ``ok(check)`` -- a result for which ``check``
(an expression over ``df``) holds. Every case also runs under the memory and time limits of
test_malformed_configs.py: no traceback, no hang, no runaway memory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expect:
    error: str | None = None  # exception class name expected in the MRO; None: success
    pattern: str = ""  # regex the message must match (names the field, column or stage)
    check: str = ""  # for a success: an expression over ``df`` that must be true
    pending: str = ""  # another slice's fix this case waits for: a failure is an xfail until then


def err(error: str, pattern: str) -> Expect:
    return Expect(error, pattern)


def ok(check: str = "") -> Expect:
    return Expect(None, "", check)


def pending(expect: Expect, why: str) -> Expect:
    return Expect(expect.error, expect.pattern, expect.check, why)




@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    code: str
    expect: Expect


LIMIT = "TemplateLimitError"
C = Case

CASES: list[Case] = [
    # -- num_records and run settings: wrong types, huge and negative sizes -----------------------
    C("num-records-bool", "type", "stage(num_records=True)", err("WorkflowError", r"Workflow 'w', stage 's': num_records must be a positive int or None, got bool True")),
    C("num-records-float", "type", "stage(num_records=2.5)", err("WorkflowError", r"num_records .*got float 2.5")),
    C("num-records-str", "type", "stage(num_records='10')", err("WorkflowError", r"num_records .*got str '10'")),
    C("num-records-zero", "size", "stage(num_records=0)", err("WorkflowError", r"num_records .*at least 1")),
    C("num-records-negative", "size", "stage(num_records=-5)", err("WorkflowError", r"num_records .*-5")),
    C("num-records-huge-plan", "size", "plan(num_records=10**12).stages[0].status.value", ok("df == 'run'")),
    C("num-records-huge-first-batch", "size", "first_batch(num_records=10**12)", ok("df == 1000")),
    C("num-records-default", "type", "stage(num_records=None)", ok("len(df) == 10")),
    C("buffer-size-zero", "size", "stage(run_config=dd.RunConfig(buffer_size=0))", err("ValidationError", r"buffer_size")),
    C("run-config-nan", "nan", "stage(run_config=dd.RunConfig(retry_max_wait=NAN))", err("ValidationError", r"retry_max_wait\s+Input should be a finite number")),
    C("max-parallel-stages-zero", "size", "workflow().run(max_parallel_stages=0)", err("WorkflowError", r"max_parallel_stages")),
    # -- names: unicode, path-like, control characters, lengths -----------------------------------
    C("stage-name-nul", "name", r"stage(name='a\x00b')", err("WorkflowError", r"stage name 'a\\x00b' contains control characters: \\x00; names must be 1 to 128")),
    C("stage-name-300", "name", "stage(name='s' * 300)", err("WorkflowError", r"stage name 's+'\.\.\. is 300 characters long; names must be")),
    C("stage-name-slash", "name", "stage(name='a/b')", err("WorkflowError", r"stage name 'a/b' contains invalid path characters: /")),
    C("stage-name-backslash-dots", "name", r"stage(name='..\\x')", err("WorkflowError", r"invalid path characters: \\")),
    C("stage-name-dotdot", "name", "stage(name='..')", err("WorkflowError", r"stage name '\.\.' is not allowed")),
    C("stage-name-newline", "name", r"stage(name='a\nb')", err("WorkflowError", r"stage name .* control characters: \\n")),
    C("stage-name-int", "type", "stage(name=5)", err("WorkflowError", r"Workflow '.*': the stage name must be a str, got int 5")),
    C("stage-name-unicode", "name", "stage(name='étape-数据')", ok("len(df) == 4")),
    C("stage-name-long-utf8", "name", "stage(name='\U0001F642' * 60)", err("WorkflowError", r"240 bytes of UTF-8")),
    C("workflow-name-empty", "name", "stage(workflow='')", err("WorkflowError", r"workflow name '' must be a non-empty string")),
    C("workflow-name-colon", "name", "stage(workflow='c:w')", err("WorkflowError", r"workflow name 'c:w' contains invalid path characters: :")),
    C("column-name-nul", "name", r"stage(expr('a\x00', '{{ x }}'))", err("ConfigError", r"column name 'a\\x00' contains control characters")),
    C("column-name-300", "name", "stage(expr('c' * 300, '{{ x }}'))", err("ConfigError", r"column name 'c+'\.\.\. is 300 characters long")),
    C("column-name-int", "type", "stage({'name': 3, 'column_type': 'expression', 'expr': '{{ x }}'})", err("ConfigError", r"column name 3 must be a string")),
    C("column-name-unicode", "name", "stage(expr('größe', '{{ x }}'))", ok("'größe' in df.columns")),
    C("processor-name-traversal", "name", "stage(expr('y', '{{ x }}'), processors=({'name': '../p', 'processor_type': 'drop_columns', 'column_names': ['y']},))", err("ConfigError", r"processor name '\.\./p' contains invalid path characters")),
    C("output-processor-name-nul", "name", r"stage(output='processor:a\x00')", err("WorkflowError", r"processor output name .* control characters")),
    # -- sampler parameters: NaN / inf, ranges, wrong types ---------------------------------------
    C("gaussian-mean-nan", "nan", "stage(sampler('g', 'gaussian', mean=NAN, stddev=1))", err("ConfigError", r"Column 'g' \(sampler\): mean: Input should be a finite number")),
    C("gaussian-stddev-inf", "nan", "stage(sampler('g', 'gaussian', mean=0, stddev=INF))", err("ConfigError", r"Column 'g' .*stddev: Input should be a finite number")),
    C("gaussian-stddev-negative", "size", "stage(sampler('g', 'gaussian', mean=0, stddev=-1))", err("ConfigError", r"Column 'g' .*stddev")),
    C("uniform-high-inf", "nan", "stage(sampler('u', 'uniform', low=0, high=INF))", err("ConfigError", r"Column 'u' .*high: Input should be a finite number")),
    C("uniform-reversed", "size", "stage(sampler('u', 'uniform', low=5, high=1))", err("ConfigError", r"Column 'u' .*low \(5.0\) must be less than high")),
    C("uniform-decimals-huge", "size", "stage(sampler('u', 'uniform', low=0, high=1, decimal_places=10**6))", err("ConfigError", r"Column 'u' .*decimal_places")),
    C("bernoulli-p-nan", "nan", "stage(sampler('b', 'bernoulli', p=NAN))", err("ConfigError", r"Column 'b' .*p: Input should be a finite number")),
    C("bernoulli-p-two", "size", "stage(sampler('b', 'bernoulli', p=2))", err("ConfigError", r"Column 'b' .*p: Input should be less than or equal to 1")),
    C("binomial-n-huge", "size", "stage(sampler('n', 'binomial', n=10**30, p=0.5))", err("ConfigError", r"Column 'n' .*n: Input should be less than or equal to")),
    C("poisson-mean-huge", "size", "stage(sampler('p', 'poisson', mean=1e300))", err("ConfigError", r"Column 'p' .*mean: Input should be less than or equal to")),
    C("category-empty", "size", "stage(sampler('c', 'category', values=[]))", err("ConfigError", r"Column 'c' .*values")),
    C("category-weights-nan", "nan", "stage(sampler('c', 'category', values=['a', 'b'], weights=[NAN, 1]))", err("ConfigError", r"Column 'c' .*weights.*finite")),
    C("category-weights-mismatch", "size", "stage(sampler('c', 'category', values=['a', 'b'], weights=[1]))", err("ConfigError", r"Column 'c' .*weights has 1 entries")),
    C("datetime-bad-start", "type", "stage(sampler('d', 'datetime', start='not a date', end='2024-01-01'))", err("ConfigError", r"Column 'd' .*start")),
    C("datetime-reversed", "size", "stage(sampler('d', 'datetime', start='2024-01-01', end='2020-01-01'))", err("ConfigError", r"Column 'd' .*end \(2020-01-01\) is before start")),
    C("timedelta-unknown-reference", "name", "stage(sampler('t', 'timedelta', dt_min=0, dt_max=5, reference_column_name='nope'))", err("ColumnReferenceError", r"Column 't' references unknown column 'nope'")),
    C("person-age-reversed", "size", "stage(sampler('p', 'person', age_range=[90, 18]))", err("ConfigError", r"Column 'p' .*age_range")),
    C("sampler-unknown-type", "type", "stage(sampler('z', 'zipf'))", err("ConfigError", r"Column 'z' .*sampler_type")),
    C("sampler-params-string", "type", "stage({'name': 'z', 'column_type': 'sampler', 'sampler_type': 'uniform', 'params': 'abc'})", err("ConfigError", r"Column 'z' ")),
    C("sampler-params-extra", "type", "stage(sampler('z', 'uniform', low=0, high=1, bogus=1))", err("ConfigError", r"Column 'z' .*bogus")),
    C("column-type-typo", "type", "stage({'name': 'q', 'column_type': 'llm_texxt', 'prompt': 'p'})", err("ConfigError", r"Column 'q' has unknown column_type 'llm_texxt'. Did you mean 'llm-text'")),
    C("convert-to-bogus", "type", "stage(sampler('u', 'uniform', convert_to='complex', low=0, high=9))", err("GenerationError", r"Column 'u': convert_to='complex'")),
    C("person-locale-bogus", "type", "stage(sampler('p', 'person', locale='xx_XX'))", err("ConfigError", r"Column 'p' \(person sampler\)")),
    # -- templates: sandbox escapes, memory and time bombs ----------------------------------------
    C("expr-str-times-4e9", "memory", "stage(expr('y', \"{{ 'x' * 4000000000 }}\"))", err(LIMIT, r"Column 'y' expr: '\*' would build about 4,000,000,000 characters")),
    C("expr-nested-range", "time", "stage(expr('y', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'))", err(LIMIT, r"Column 'y' expr: rendering took longer than")),
    C("expr-pow", "memory", "stage(expr('y', '{{ 10 ** 100000000 }}'))", err(LIMIT, r"Column 'y' expr: '\*\*' would build an integer")),
    C("expr-concat-doubling", "memory", "stage(expr('y', \"{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}\"))", err(LIMIT, r"Column 'y' expr: '~' would build")),
    C("expr-plus-doubling", "memory", "stage(expr('y', \"{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}\"))", err(LIMIT, r"Column 'y' expr: '\+' would build")),
    C("expr-int-squaring", "memory", "stage(expr('y', '{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}'))", err(LIMIT, r"Column 'y' expr: '\*' would build an integer")),
    C("expr-macro-recursion", "time", "stage(expr('y', '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}'))", err(LIMIT, r"Column 'y' expr: recursion too deep")),
    C("expr-macro-fanout", "time", "stage(expr('y', '{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}'))", err(LIMIT, r"Column 'y' expr: rendering took longer than")),
    C("expr-loop-output", "memory", "stage(expr('y', \"{% set s = 'x' * 900000 %}{% for i in range(100000) %}{{ s }}{% endfor %}\"))", err(LIMIT, r"Column 'y' expr: the output would build")),
    C("expr-center", "memory", "stage(expr('y', \"{{ 'x'|center(10**10) }}\"))", err(LIMIT, r"Column 'y' expr: the 'center' filter")),
    C("expr-indent", "memory", "stage(expr('y', \"{{ ('a\\n' * 100000)|indent(10**5) }}\"))", err(LIMIT, r"Column 'y' expr: the 'indent' filter")),
    C("expr-format-width", "memory", "stage(expr('y', \"{{ '{:>999999999}'.format(1) }}\"))", err(LIMIT, r"Column 'y' expr: str.format\(\): the width or precision 999999999")),
    C("expr-percent-width", "memory", "stage(expr('y', \"{{ '%0999999999d' % 1 }}\"))", err(LIMIT, r"Column 'y' expr: '%' formatting")),
    C("expr-percent-repeat", "memory", "stage(expr('y', \"{{ ('%s' * 1000) % ((('y' * 1000000),) * 1000) }}\"))", err(LIMIT, r"Column 'y' expr: '%' formatting would build")),
    C("expr-format-filter", "memory", "stage(expr('y', \"{{ '%0999999999d'|format(1) }}\"))", err(LIMIT, r"Column 'y' expr: the 'format' filter")),
    C("expr-join-bomb", "memory", "stage(expr('y', \"{{ (['y' * 100000] * 100000)|join }}\"))", err(LIMIT, r"Column 'y' expr: the 'join' filter")),
    C("expr-str-join-bomb", "memory", "stage(expr('y', \"{{ ''.join(['y' * 100000] * 100000) }}\"))", err(LIMIT, r"Column 'y' expr: str.join\(\)")),
    C("expr-replace-bomb", "memory", "stage(expr('y', \"{{ ('x' * 100000)|replace('x', 'y' * 100000) }}\"))", err(LIMIT, r"Column 'y' expr: the 'replace' filter")),
    C("expr-ljust", "memory", "stage(expr('y', \"{{ 'a'.ljust(10**10) }}\"))", err(LIMIT, r"Column 'y' expr: str.ljust\(\)")),
    C("expr-list-times", "memory", "stage(expr('y', '{{ ([1] * 10**9)|length }}'))", err(LIMIT, r"Column 'y' expr: '\*' would build about 1,000,000,000 items")),
    C("expr-list-repr", "memory", "stage(expr('y', \"{{ ['y' * 100000] * 100000 }}\"))", err(LIMIT, r"Column 'y' expr: an output value")),
    C("expr-range-huge", "memory", "stage(expr('y', '{{ range(10**12)|list }}'))", err(LIMIT, r"Column 'y' expr: range\(\) would build")),
    C("expr-batch-fill", "memory", "stage(expr('y', \"{{ [1]|batch(10**9, 'x')|list }}\"))", err(LIMIT, r"Column 'y' expr: the 'batch' filter")),
    C("expr-sum-lists", "memory", "stage(expr('y', '{{ ([[1] * 100000] * 100000)|sum(start=[]) }}'))", err(LIMIT, r"Column 'y' expr: the 'sum' filter")),
    C("expr-lipsum", "memory", "stage(expr('y', '{{ lipsum(10**6) }}'))", err(LIMIT, r"Column 'y' expr: lipsum\(\)")),
    C("expr-forceescape-chain", "memory", "stage(expr('y', \"{{ ('<' * 900000)|forceescape|forceescape|forceescape }}\"))", err(LIMIT, r"Column 'y' expr: the 'forceescape' filter")),
    C("expr-class-escape", "escape", "stage(expr('y', \"{{ ''.__class__.__mro__ }}\"))", err("TemplateError", r"Column 'y': template accesses '__(class|mro)__', which the sandbox forbids")),
    C("expr-attr-escape", "escape", "stage(expr('y', \"{{ x|attr('__class__') }}\"))", err("TemplateError", r"Column 'y' expr: sandbox violation")),
    C("expr-globals-escape", "escape", "stage(expr('y', '{{ cycler.__init__.__globals__ }}'))", err("TemplateError", r"Column 'y': template accesses '__(init|globals)__'")),
    C("expr-item-escape", "escape", "stage(expr('y', \"{{ x['__class__'] }}\"))", err("TemplateError", r"Column 'y': template accesses '__class__'")),
    C("expr-format-escape", "escape", "stage(expr('y', \"{{ '{0.__class__}'.format(x) }}\"))", err("TemplateError", r"Column 'y' expr: sandbox violation")),
    C("expr-unknown-column", "name", "stage(expr('y', '{{ nope }}'))", err("ColumnReferenceError", r"Column 'y' references unknown column 'nope'")),
    C("expr-syntax", "type", "stage(expr('y', '{{ x '))", err("TemplateError", r"Column 'y': template does not parse")),
    C("expr-zero-division", "type", "stage(expr('y', '{{ 1 / 0 }}'))", err("GenerationError", r"Column 'y' failed for every row .*ZeroDivisionError")),
    C("expr-bad-cast", "type", "stage(expr('y', 'abc', dtype='int'))", err("GenerationError", r"Column 'y'.*cannot cast")),
    C("expr-small-ok", "escape", "stage(expr('y', \"{{ ('ab' * 3)|upper }}-{{ range(3)|join(',') }}-{{ '%.1f' % 2.5 }}\"))", ok("df['y'][0] == 'ABABAB-0,1,2-2.5'")),
    C("schema-transform-bomb", "memory", "stage(processors=({'name': 'p', 'processor_type': 'schema_transform', 'template': {'t': \"{{ 'x' * 4000000000 }}\"}},))", err(LIMIT, r"Processor 'p' template: '\*' would build")),
    # -- user code: raising callbacks, exits, values Arrow cannot store --------------------------
    C("custom-system-exit", "callback", "stage(custom('c', boom(SystemExit(0))))", err("GenerationError", r"Column 'c': custom generator .* raised SystemExit\(0\)")),
    C("custom-keyboard-interrupt", "callback", "stage(custom('c', boom(KeyboardInterrupt())))", err("GenerationError", r"Column 'c': custom generator .* raised KeyboardInterrupt\(\)")),
    C("custom-generator-exit", "callback", "stage(custom('c', boom(GeneratorExit())))", err("GenerationError", r"Column 'c': custom generator .* raised GeneratorExit")),
    C("custom-full-column-exit", "callback", "stage(custom('c', boom(SystemExit(3)), strategy='full_column'))", err("GenerationError", r"Column 'c': custom generator .* raised SystemExit\(3\)")),
    C("custom-raises-every-row", "callback", "stage(custom('c', boom(ValueError('bad row'))))", err("GenerationError", r"Column 'c' failed for every row .*ValueError: bad row")),
    C("custom-returns-object", "arrow", "stage(custom('c', setcol('c', lambda row: object())))", err("GenerationError", r"Column 'c' holds values Parquet cannot store .*object x4")),
    C("custom-returns-mixed", "arrow", "stage(custom('c', setcol('c', lambda row: 1 if row['x'] < 0.5 else 'a')), num_records=40)", err("GenerationError", r"Column 'c' holds values .*int x\d+ .*str x\d+")),
    C("custom-returns-huge-int", "arrow", "stage(custom('c', setcol('c', lambda row: 2 ** 100)))", err("GenerationError", r"Column 'c' holds values .*int x4")),
    C("custom-returns-complex", "arrow", "stage(custom('c', setcol('c', lambda row: 1j)))", err("GenerationError", r"Column 'c' holds values .*complex x4")),
    C("custom-returns-tuple-mixed", "arrow", "stage(custom('c', setcol('c', lambda row: (1, 'a'))))", err("GenerationError", r"Column 'c' holds values .*tuple x4")),
    C("custom-returns-empty-dict", "arrow", "stage(custom('c', setcol('c', lambda row: {})))", err("GenerationError", r"Column 'c' holds values .*dict x4 .*empty dict")),
    C("custom-returns-nested-empty", "arrow", "stage(custom('c', setcol('c', lambda row: [{}])))", err("GenerationError", r"Column 'c' holds values .*list x4")),
    C("custom-returns-huge-decimal", "arrow", "stage(custom('c', setcol('c', lambda row: __import__('decimal').Decimal('1e100'))))", err("GenerationError", r"Column 'c' holds values .*Decimal x4")),
    C("custom-returns-dates", "arrow", "stage(custom('c', setcol('c', lambda row: __import__('datetime').date(2020, 1, 2))))", ok("str(df['c'][0]) == '2020-01-02'")),
    C("custom-returns-nan", "arrow", "stage(custom('c', setcol('c', lambda row: NAN)))", ok("len(df) == 4")),
    C("custom-returns-not-dict", "callback", "stage(custom('c', lambda row: None))", err("GenerationError", r"Column 'c': custom generator .* must return the row dict")),
    C("custom-full-column-short", "callback", "stage(custom('c', lambda df: df.head(1).assign(c=1), strategy='full_column'))", err("GenerationError", r"Column 'c': custom generator returned 1 rows for 4")),
    C("custom-not-decorated", "type", "stage(dd.CustomColumnConfig(name='c', generator_function=len))", err("ValidationError", r"generator_function")),
    C("on-success-system-exit", "callback", "stage(on_success=boom(SystemExit(1)))", err("GenerationError", r"Stage 's': on_success callback .* raised SystemExit\(1\)")),
    C("on-success-raises", "callback", "stage(on_success=boom(OSError('nope')))", err("GenerationError", r"Stage 's': on_success callback .* raised OSError: nope")),
    C("on-success-returns-none", "callback", "stage(on_success=lambda path: None)", err("GenerationError", r"Stage 's': on_success callback .* returned NoneType")),
    C("on-success-returns-nothing-there", "callback", "stage(on_success=lambda path: path / 'nothing')", err("GenerationError", r"Stage 's': on_success returned .*no parquet files")),
    C("join-callable-exit", "callback", "two_parents(boom(SystemExit(2)))", err("GenerationError", r"The join callable raised SystemExit\(2\)")),
    C("join-callable-returns-int", "callback", "two_parents(lambda dirs: 7)", err("WorkflowError", r"The join callable returned int")),
    C("custom-params-invalid", "type", "stage(custom('c', Typed.f))", err("ConfigError", r"Column 'c' \(custom\): generator_params do not fit Params: count: Input should be a valid integer")),
    C("stage-sampling-strategy-typo", "type", "stage(sampling_strategy='random')", err("WorkflowError", r"sampling_strategy 'random'.*ordered, shuffle")),
    C("stage-output-typo", "type", "stage(output='finale')", err("WorkflowError", r"Stage output must be 'final' or 'processor:<name>', got 'finale'")),
    C("stage-depends-on-unknown", "name", "stage(depends_on='nope')", err("TargetError", r"Stage 's' depends on unknown stage 'nope'")),
    C("stage-join-one-parent", "type", "stage(join=dd.Concat())", err("WorkflowError", r"Stage 's' has join= but fewer than two parents")),
    C("stage-allow-empty-str", "type", "stage(allow_empty='yes')", err("WorkflowError", r"allow_empty must be True or False")),
    C("stage-builder-not-builder", "type", "dd.DataDesigner().compose_workflow(name='w').add_stage('s', 42)", err("WorkflowError", r"Workflow 'w', stage 's': config_builder must be a DataDesignerConfigBuilder, got int 42")),
    # -- config files (from_config): wrong shapes -------------------------------------------------
    C("config-not-mapping", "type", "from_config([1, 2])", err("ConfigError", r"A config must be a mapping")),
    C("config-unknown-field", "type", "from_config({'colums': []})", err("ConfigError", r"Unknown config field 'colums'. Did you mean 'columns'")),
    C("config-columns-not-list", "type", "from_config({'columns': 5})", err("ConfigError", r"Config field 'columns' must be a list, got int")),
    C("config-column-not-dict", "type", "from_config({'columns': [5]})", err("ConfigError", r"Config field 'columns\[0\]' must be a mapping, got int 5")),
    C("config-seed-not-int", "type", "from_config({'seed': 'abc'})", err("ConfigError", r"Config field 'seed' must be an integer, got str 'abc'")),
    C("config-seed-config-list", "type", "from_config({'seed_config': [1]})", err("ConfigError", r"Config field 'seed_config' must be a mapping")),
    C("config-model-temperature-nan", "nan", "from_config({'model_configs': [{'alias': 'm', 'model': 'x', 'inference_parameters': {'temperature': NAN}}]})", err("ConfigError", r"model_configs: .*temperature")),
    C("config-generator-import-missing", "type", "from_config({'columns': [{'name': 'c', 'column_type': 'custom', 'generator_function': 'no_such_module_xyz:f'}]})", err("ConfigError", r"Column 'c' .*no_such_module_xyz")),
    C("config-generator-os-system", "escape", "from_config({'columns': [{'name': 'c', 'column_type': 'custom', 'generator_function': 'os:system'}]})", err("ConfigError", r"Column 'c' .*must be decorated")),
    # -- seeds -----------------------------------------------------------------------------------
    C("seed-missing", "path", "stage(base=seeded('nope.parquet'))", err("SeedError", r"Seed file 'nope.parquet' does not exist")),
    C("seed-path-traversal", "path", "stage(base=seeded('../../../../etc/passwd'))", err("SeedError", r"unsupported type")),
    C("seed-index-range-reversed", "size", "stage(base=seeded('nope.parquet', selection_strategy={'selection_type': 'index_range', 'start': 5, 'end': 1}))", err("ConfigError", r"Seed dataset: .*start \(5\) must not exceed end \(1\)")),
    # -- LLM columns: bad models, bad endpoint replies, 429/500 storms ---------------------------
    C("llm-unknown-alias", "name", "stage(llm(model_alias='nope'))", err("ConfigError", r"nope")),
    C("llm-temperature-nan", "nan", "stage(llm(), models=[model(temperature=NAN)])", err("ValidationError", r"temperature")),
    C("llm-extra-body-nan", "nan", "stage(llm(), models=[model(extra_body={'x': [NAN]})])", err("ValidationError", r"extra_body.x must be a finite number")),
    C("llm-max-tokens-zero", "size", "stage(llm(), models=[model(max_tokens=0)])", err("ValidationError", r"max_tokens")),
    C("llm-prompt-bomb", "memory", "stage(llm(prompt=\"{{ 'x' * 4000000000 }}\"))", err(LIMIT, r"Column 'a' prompt: '\*' would build")),
    C("llm-429-storm", "endpoint", "fault('429', retry_after=0) or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(rate_limited: 4\); first error: Model alias 'm'")),
    C("llm-500-storm", "endpoint", "fault('500') or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(server_error: 4\); first error: Model alias 'm'")),
    C("llm-reply-choices-int", "endpoint", "fault('raw', body='{\"choices\": [1]}') or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(malformed_response: 4\)")),
    C("llm-reply-empty-object", "endpoint", "fault('raw', body='{}') or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(malformed_response: 4\)")),
    C("llm-reply-not-json", "endpoint", "fault('malformed_body') or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(malformed_response: 4\)")),
    C("llm-reply-deep-brackets", "endpoint", "fault('raw', body='[' * 200000) or stage(llm())", err("GenerationError", r"4 of 4 rows got no reply after the retries \(malformed_response: 4\)")),
    C("llm-reply-invalid-structured", "endpoint", "fault('invalid_json') or stage(llm(kind='llm-structured', output_format={'type': 'object', 'properties': {'k': {'type': 'string'}}}))", err("GenerationError", r"Stage 's'|Column 'a'")),
    C("llm-refusal", "endpoint", "fault('refusal') or stage(llm())", err("GenerationError", r"Stage 's'|Column 'a'")),
    C("llm-one-429-then-ok", "endpoint", "fault('429', times=1, retry_after=0) or stage(llm())", ok("len(df) == 4")),
]

BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
