"""The configs of ``dd_configs/make_configs.py`` (run by Data Designer 0.9.7 to write the files
in ``dd_configs/``), built again in Python with only the import renamed to ``ddbuild.config``.

One change, for a reason that is about data: the judge's options are written with string keys,
as Data Designer's files carry them (YAML and JSON keys are strings); in ddbuild an option key's
type is the type of the score column, so ``{1: ...}`` is a different config from ``{"1": ...}``.
"""

from __future__ import annotations

from typing import Any

import ddbuild.config as dd

local = dict(provider="local")
fast = dd.ModelConfig(alias="fast", model="stub-model", **local,
                      inference_parameters=dd.ChatCompletionInferenceParams(temperature=0.7, max_tokens=128,
                                                                            max_parallel_requests=8))


def support_tickets() -> Any:
    b = dd.DataDesignerConfigBuilder(model_configs=[fast])
    b.add_column(dd.SamplerColumnConfig(name="topic", sampler_type=dd.SamplerType.CATEGORY,
                 params=dd.CategorySamplerParams(values=["billing", "shipping", "returns"], weights=[0.5, 0.3, 0.2])))
    b.add_column(dd.SamplerColumnConfig(name="age", sampler_type=dd.SamplerType.UNIFORM,
                 params=dd.UniformSamplerParams(low=18, high=80, decimal_places=0), convert_to="int"))
    b.add_column(dd.SamplerColumnConfig(name="sub", sampler_type=dd.SamplerType.SUBCATEGORY,
                 params=dd.SubcategorySamplerParams(category="topic", values={
                     "billing": ["refund", "invoice"], "shipping": ["late", "lost"], "returns": ["label", "policy"]})))
    b.add_column(dd.SamplerColumnConfig(name="uid", sampler_type=dd.SamplerType.UUID,
                 params=dd.UUIDSamplerParams(prefix="T-", short_form=True)))
    b.add_column(dd.ExpressionColumnConfig(name="title", expr="{{ topic }}/{{ sub }} ({{ age }})"))
    b.add_column(dd.LLMTextColumnConfig(name="ticket", model_alias="fast", system_prompt="You are terse.",
                 prompt="Write a {{ topic }} ticket about {{ sub }}."))
    b.add_column(dd.LLMStructuredColumnConfig(name="meta", model_alias="fast", prompt="Classify: {{ ticket }}",
                 output_format={"type": "object", "properties": {"urgency": {"type": "string", "enum": ["low", "high"]}},
                                "required": ["urgency"]}))
    b.add_column(dd.LLMJudgeColumnConfig(name="quality", model_alias="fast", prompt="Judge {{ ticket }}",
                 scores=[dd.Score(name="clarity", description="Is it clear?",
                                  options={"1": "no", "2": "somewhat", "3": "yes"})]))
    b.add_constraint(dd.ScalarInequalityConstraint(target_column="age", rhs=21, operator=dd.InequalityOperator.GE))
    b.add_processor(dd.SchemaTransformProcessorConfig(name="chat",
                    template={"messages": [{"role": "user", "content": "{{ ticket }}"}]}))
    return b


def seeded_questions() -> Any:
    b = dd.DataDesignerConfigBuilder(model_configs=[fast])
    b.with_seed_dataset(dd.LocalFileSeedSource(path="passages.parquet"), sampling_strategy=dd.SamplingStrategy.SHUFFLE)
    b.add_column(dd.SamplerColumnConfig(name="noise", sampler_type=dd.SamplerType.GAUSSIAN,
                 params=dd.GaussianSamplerParams(mean=0, stddev=1, decimal_places=3)))
    b.add_column(dd.LLMTextColumnConfig(name="question", model_alias="fast", prompt="Ask about: {{ text }}"))
    b.add_processor(dd.DropColumnsProcessorConfig(name="drop_noise", column_names=["noise"]))
    return b
