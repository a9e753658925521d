"""ddbuild's own configs for the porting tests (built in Python with ``import ddbuild.config as
dd``, as a ported Data Designer script writes them), independent of any shared folder."""

from __future__ import annotations

from typing import Any

import ddbuild.config as dd


def every_kind() -> Any:
    """A builder with every column, sampler, processor and inference-parameter kind ddbuild runs.

    ``every_kind.yaml`` beside this file is its ``to_yaml()``; Data Designer 0.9.7 read that file
    and wrote it back identically (checked when the file was made)."""
    models = [
        dd.ModelConfig(alias="fast", model="stub-model", provider="local",
                       inference_parameters=dd.ChatCompletionInferenceParams(
                           temperature=dd.UniformDistribution(params=dd.UniformDistributionParams(low=0.2, high=0.9)),
                           top_p=dd.ManualDistribution(params=dd.ManualDistributionParams(values=[0.5, 0.9],
                                                                                          weights=[1.0, 3.0])),
                           max_tokens=64, max_parallel_requests=2, timeout=30)),
        dd.ModelConfig(alias="judge", model="stub-judge", provider="local"),
    ]
    b = dd.DataDesignerConfigBuilder(model_configs=models)
    b.with_seed_dataset(dd.LocalFileSeedSource(path="passages.parquet"),
                        sampling_strategy=dd.SamplingStrategy.SHUFFLE,
                        selection_strategy=dd.IndexRange(start=0, end=3))
    add = b.add_column
    sampler = dd.SamplerColumnConfig
    add(sampler(name="topic", sampler_type=dd.SamplerType.CATEGORY,
                params=dd.CategorySamplerParams(values=["a", "b"], weights=[2.0, 1.0])))
    add(sampler(name="sub", sampler_type=dd.SamplerType.SUBCATEGORY,
                params=dd.SubcategorySamplerParams(category="topic", values={"a": ["a1"], "b": ["b1", "b2"]})))
    add(sampler(name="u", sampler_type=dd.SamplerType.UNIFORM,
                params=dd.UniformSamplerParams(low=1, high=5, decimal_places=1)))
    add(sampler(name="g", sampler_type=dd.SamplerType.GAUSSIAN, params=dd.GaussianSamplerParams(mean=0, stddev=2)))
    add(sampler(name="coin", sampler_type=dd.SamplerType.BERNOULLI, params=dd.BernoulliSamplerParams(p=0.3)))
    add(sampler(name="trials", sampler_type=dd.SamplerType.BINOMIAL, params=dd.BinomialSamplerParams(n=5, p=0.5)))
    add(sampler(name="events", sampler_type=dd.SamplerType.POISSON, params=dd.PoissonSamplerParams(mean=3)))
    add(sampler(name="uid", sampler_type=dd.SamplerType.UUID, params=dd.UUIDSamplerParams(short_form=True)))
    add(sampler(name="day", sampler_type=dd.SamplerType.DATETIME,
                params=dd.DatetimeSamplerParams(start="2024-01-01", end="2024-06-30")))
    add(sampler(name="later", sampler_type=dd.SamplerType.TIMEDELTA,
                params=dd.TimeDeltaSamplerParams(dt_min=1, dt_max=9, reference_column_name="day")))
    add(sampler(name="who", sampler_type=dd.SamplerType.PERSON,
                params=dd.PersonSamplerParams(locale="en_US", sex="Female", age_range=[20, 60])))
    add(sampler(name="score", sampler_type=dd.SamplerType.UNIFORM,
                params=dd.UniformSamplerParams(low=0, high=10), convert_to="int"))
    add(dd.ExpressionColumnConfig(name="label", expr="{{ topic }}-{{ sub }}", dtype="str"))
    add(dd.LLMTextColumnConfig(name="question", model_alias="fast", system_prompt="Be brief.",
                               prompt="Ask about {{ text }} ({{ topic }})."))
    add(dd.LLMCodeColumnConfig(name="query", model_alias="fast", prompt="SQL for {{ question }}",
                               code_lang=dd.CodeLang.SQL_SQLITE))
    add(dd.LLMStructuredColumnConfig(name="facts", model_alias="fast", prompt="Facts of {{ text }}",
                                     output_format={"type": "object", "properties": {"n": {"type": "integer"}},
                                                    "required": ["n"]}))
    add(dd.LLMJudgeColumnConfig(name="grade", model_alias="judge", prompt="Grade {{ question }}",
                                scores=[dd.Score(name="clarity", description="Clear?", options={"1": "no", "2": "yes"})]))
    b.add_processor(dd.DropColumnsProcessorConfig(name="drop_scratch", column_names=["g", "coin"]))
    b.add_processor(dd.SchemaTransformProcessorConfig(name="chat", template={
        "messages": [{"role": "user", "content": "{{ question }}"}, {"role": "assistant", "content": "{{ facts }}"}]}))
    return b
