"""Writes Data Designer 0.9.7 configs that combine its features, with Data Designer itself (run in
a throwaway venv that has data-designer-config==0.9.7, from this folder: ``python make_combos.py .``).

Each config is written by Data Designer as YAML or JSON (``to_yaml()`` / ``to_json()``); a config
that needs run settings gets ``<name>.run_config.<ext>``: ``RunConfig.model_dump(mode="json")``
in the same format (Data Designer passes a RunConfig to ``set_run_config``, it writes no file of
its own for it). The small seed files the configs name are written too, because Data Designer
checks that a local seed file exists when the config is made. These files are facts about Data
Designer's format, for ``tests/porting/test_dd_combos.py``; ddbuild never imports this script.
"""
import json
import sys
from pathlib import Path

import data_designer.config as dd
import yaml

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

fast = dd.ModelConfig(alias="fast", model="stub-model", provider="local",
                      inference_parameters=dd.ChatCompletionInferenceParams(max_tokens=128, max_parallel_requests=8))
embed = dd.ModelConfig(alias="embed", model="stub-embed", provider="local",
                       inference_parameters=dd.EmbeddingInferenceParams(dimensions=4))


def write(name, builder, fmt, run_config=None):
    config = builder.build()
    (out / f"{name}.{fmt}").write_text(config.to_yaml() if fmt == "yaml" else config.to_json())
    if run_config is not None:
        dumped = run_config.model_dump(mode="json")
        text = yaml.safe_dump(dumped) if fmt == "yaml" else json.dumps(dumped, indent=2) + "\n"
        (out / f"{name}.run_config.{fmt}").write_text(text)


# -- seed files (Data Designer checks a local seed file exists) ---------------------------------
(out / "tasks.csv").write_text("task\nadd two numbers\ngreet a user\nsort a list\nparse a date\n")
for rel, text in {"a.md": "Alpha notes", "b.txt": "not markdown", "deep/c.md": "Gamma notes",
                  "deep/d.md": "Delta notes", "deep/e.md": "draft: Epsilon"}.items():
    (out / "notes" / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / "notes" / rel).write_text(text)
for rel in ("cat.png", "dog.png", "draft-owl.png", "readme.txt", "old/bird.png"):
    (out / "gallery" / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / "gallery" / rel).write_bytes(b"\x89PNG\r\n\x1a\n" + rel.encode())

# 1. a skipped LLM column whose dependants (LLM, embedding, expression) propagate the skip; a skip
#    with a value whose dependant does not propagate
b = dd.DataDesignerConfigBuilder(model_configs=[fast, embed])
b.add_column(dd.SamplerColumnConfig(name="channel", sampler_type=dd.SamplerType.CATEGORY,
             params=dd.CategorySamplerParams(values=["email", "chat", "phone", "spam"])))
b.add_column(dd.LLMTextColumnConfig(name="complaint", model_alias="fast", prompt="Write a {{ channel }} complaint.",
             skip=dd.SkipConfig(when="{{ channel == 'spam' }}")))
b.add_column(dd.LLMTextColumnConfig(name="reply", model_alias="fast", prompt="Reply to: {{ complaint }}"))
b.add_column(dd.EmbeddingColumnConfig(name="complaint_vec", target_column="complaint", model_alias="embed"))
b.add_column(dd.ExpressionColumnConfig(name="headline", expr="{{ channel }}: {{ reply }}"))
b.add_column(dd.LLMTextColumnConfig(name="tone", model_alias="fast", prompt="Tone of a {{ channel }} message",
             skip=dd.SkipConfig(when="{{ channel == 'phone' }}", value="spoken")))
b.add_column(dd.LLMTextColumnConfig(name="tone_note", model_alias="fast", prompt="Note on tone: {{ tone }}",
             propagate_skip=False))
write("skip_propagation", b, "yaml")

# 2. a structured column corrected and restarted (with its whole conversation traced) feeding a
#    code column, a code validator and a judge
b = dd.DataDesignerConfigBuilder(model_configs=[fast])
b.with_seed_dataset(dd.LocalFileSeedSource(path="tasks.csv"))
b.add_column(dd.LLMStructuredColumnConfig(name="spec", model_alias="fast", prompt="Spec for: {{ task }}",
             output_format={"type": "object", "properties": {"function_name": {"type": "string"},
                                                              "arity": {"type": "integer"}},
                            "required": ["function_name", "arity"]},
             with_trace=dd.TraceType.ALL_MESSAGES))
b.add_column(dd.LLMCodeColumnConfig(name="solution", model_alias="fast", code_lang=dd.CodeLang.PYTHON,
             prompt="Implement {{ task }} as {{ spec.function_name }}"))
b.add_column(dd.ValidationColumnConfig(name="lint", target_columns=["solution"], validator_type=dd.ValidatorType.CODE,
             validator_params=dd.CodeValidatorParams(code_lang=dd.CodeLang.PYTHON)))
b.add_column(dd.LLMJudgeColumnConfig(name="review", model_alias="fast",
             prompt="Review {{ solution }} for {{ spec.function_name }}",
             scores=[dd.Score(name="correctness", description="Does it work?", options={"0": "no", "1": "yes"})]))
write("code_review", b, "yaml", dd.RunConfig(max_conversation_correction_steps=1, max_conversation_restarts=1))

# 3. a Faker person, conditional params and convert_to under a column and a scalar inequality
b = dd.DataDesignerConfigBuilder(model_configs=[fast])
b.add_column(dd.SamplerColumnConfig(name="customer", sampler_type=dd.SamplerType.PERSON_FROM_FAKER,
             params=dd.PersonFromFakerSamplerParams(locale="en_US", age_range=[25, 60])))
b.add_column(dd.SamplerColumnConfig(name="tier", sampler_type=dd.SamplerType.CATEGORY,
             params=dd.CategorySamplerParams(values=["basic", "gold"])))
b.add_column(dd.SamplerColumnConfig(name="price", sampler_type=dd.SamplerType.UNIFORM,
             params=dd.UniformSamplerParams(low=10, high=50),
             conditional_params={"tier == 'gold'": dd.UniformSamplerParams(low=100, high=200)}, convert_to="int"))
b.add_column(dd.SamplerColumnConfig(name="discount", sampler_type=dd.SamplerType.UNIFORM,
             params=dd.UniformSamplerParams(low=0, high=150), convert_to="int"))
b.add_column(dd.ExpressionColumnConfig(name="greeting", expr="Dear {{ customer.first_name }} {{ customer.last_name }}"))
b.add_column(dd.LLMTextColumnConfig(name="pitch", model_alias="fast",
             prompt="Pitch {{ tier }} at {{ price }} to a {{ customer.age }}-year-old in {{ customer.state }}"))
b.add_constraint(dd.ColumnInequalityConstraint(target_column="discount", rhs="price", operator=dd.InequalityOperator.LT))
b.add_constraint(dd.ScalarInequalityConstraint(target_column="price", rhs=15, operator=dd.InequalityOperator.GE))
write("faker_pricing", b, "json")

# 4. a file-contents seed, a skipped and traced LLM column whose reasoning is extracted and read by
#    another column, a structured column tracing its last message
b = dd.DataDesignerConfigBuilder(model_configs=[fast])
b.with_seed_dataset(dd.FileContentsSeedSource(path="notes", file_pattern="*.md", recursive=True))
b.add_column(dd.LLMTextColumnConfig(name="summary", model_alias="fast", system_prompt="Be brief.",
             prompt="Summarise {{ relative_path }}: {{ content }}", with_trace=dd.TraceType.ALL_MESSAGES,
             extract_reasoning_content=True, skip=dd.SkipConfig(when="{{ 'draft' in content }}", value="(draft)")))
b.add_column(dd.LLMTextColumnConfig(name="critique", model_alias="fast",
             prompt="Critique the reasoning: {{ summary__reasoning_content }}"))
b.add_column(dd.LLMStructuredColumnConfig(name="labels", model_alias="fast", prompt="Label {{ summary }}",
             output_format={"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                            "required": ["tags"]},
             with_trace=dd.TraceType.LAST_MESSAGE))
write("notes_traces", b, "yaml")

# 5. a directory seed, an expression building image URLs, an image context on a skipped LLM
#    column and a base64 embedding of its text
embed64 = dd.ModelConfig(alias="embed64", model="stub-embed", provider="local",
                         inference_parameters=dd.EmbeddingInferenceParams(encoding_format="base64", dimensions=3))
b = dd.DataDesignerConfigBuilder(model_configs=[fast, embed64])
b.with_seed_dataset(dd.DirectorySeedSource(path="gallery", file_pattern="*.png", recursive=False))
b.add_column(dd.ExpressionColumnConfig(name="image_url", expr="https://img.example/{{ file_name }}"))
b.add_column(dd.LLMTextColumnConfig(name="caption", model_alias="fast", prompt="Caption this picture",
             multi_modal_context=[dd.ImageContext(column_name="image_url", data_type=dd.ModalityDataType.URL)],
             skip=dd.SkipConfig(when="{{ 'draft' in file_name }}", value="(draft)")))
b.add_column(dd.EmbeddingColumnConfig(name="caption_vec", target_column="caption", model_alias="embed64"))
write("gallery_images", b, "yaml")

# 6. a Hugging Face seed, scipy and bernoulli-mixture samplers, an expression, a dropped column and
#    a drop processor
b = dd.DataDesignerConfigBuilder(model_configs=[fast])
b.with_seed_dataset(dd.HuggingFaceSeedSource(path="datasets/acme/faq/data/*.parquet"))
b.add_column(dd.SamplerColumnConfig(name="latency_ms", sampler_type=dd.SamplerType.SCIPY,
             params=dd.ScipySamplerParams(dist_name="lognorm", dist_params={"s": 0.5, "scale": 100},
                                          decimal_places=1)))
b.add_column(dd.SamplerColumnConfig(name="refund", sampler_type=dd.SamplerType.BERNOULLI_MIXTURE,
             params=dd.BernoulliMixtureSamplerParams(p=0.5, dist_name="expon", dist_params={"scale": 50})))
b.add_column(dd.SamplerColumnConfig(name="scratch", sampler_type=dd.SamplerType.UNIFORM,
             params=dd.UniformSamplerParams(low=0, high=1), drop=True))
b.add_column(dd.ExpressionColumnConfig(name="line", expr="{{ question }} ({{ latency_ms }} ms)"))
b.add_column(dd.LLMTextColumnConfig(name="answer", model_alias="fast",
             prompt="Answer: {{ question }} (refund {{ refund > 0 }}, {{ scratch < 2 }})"))
b.add_processor(dd.DropColumnsProcessorConfig(name="drop_refund", column_names=["refund"]))
write("hub_scipy", b, "yaml")

# 7. request admission tuned in the run config, two LLM columns on one model
burst = dd.ModelConfig(alias="burst", model="limited-model", provider="local",
                       inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=12))
b = dd.DataDesignerConfigBuilder(model_configs=[burst])
b.add_column(dd.SamplerColumnConfig(name="uid", sampler_type=dd.SamplerType.UUID, params=dd.UUIDSamplerParams()))
b.add_column(dd.SamplerColumnConfig(name="topic", sampler_type=dd.SamplerType.CATEGORY,
             params=dd.CategorySamplerParams(values=["rain", "snow", "sun"])))
b.add_column(dd.LLMTextColumnConfig(name="draft", model_alias="burst", prompt="Draft {{ uid }} on {{ topic }}"))
b.add_column(dd.LLMJudgeColumnConfig(name="grade", model_alias="burst", prompt="Grade {{ draft }}",
             scores=[dd.Score(name="style", description="Well written?", options={"1": "poor", "2": "good"})]))
write("admission", b, "json", dd.RunConfig(request_admission=dd.RequestAdmissionTuningConfig(
    cooldown_seconds=0.05, successes_until_increase=5)))

# 8. no LLM column: SQL built from samplers, linted by sqlfluff and checked by a remote validator
#    that skips some rows (the endpoint is the test server's; the test sets its port)
b = dd.DataDesignerConfigBuilder(model_configs=[fast])  # Data Designer requires one, used or not
b.add_column(dd.SamplerColumnConfig(name="table", sampler_type=dd.SamplerType.CATEGORY,
             params=dd.CategorySamplerParams(values=["users", "orders", "bad_table"])))
b.add_column(dd.SamplerColumnConfig(name="typo", sampler_type=dd.SamplerType.BERNOULLI,
             params=dd.BernoulliSamplerParams(p=0.3)))
b.add_column(dd.SamplerColumnConfig(name="row_limit", sampler_type=dd.SamplerType.UNIFORM,
             params=dd.UniformSamplerParams(low=1, high=100), convert_to="int"))
b.add_column(dd.ExpressionColumnConfig(name="query",
             expr="{{ 'SELEC' if typo else 'SELECT' }} id FROM {{ table }} LIMIT {{ row_limit }}"))
b.add_column(dd.ValidationColumnConfig(name="sql_lint", target_columns=["query"], validator_type=dd.ValidatorType.CODE,
             validator_params=dd.CodeValidatorParams(code_lang=dd.CodeLang.SQL_SQLITE)))
b.add_column(dd.ValidationColumnConfig(name="remote_check", target_columns=["query", "table"],
             validator_type=dd.ValidatorType.REMOTE, batch_size=4,
             validator_params=dd.RemoteValidatorParams(endpoint_url="http://127.0.0.1:9/v1/validate"),
             skip=dd.SkipConfig(when="{{ table == 'orders' }}")))
write("sql_remote", b, "json")
