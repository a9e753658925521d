"""judge_two_ways: Q/A records -> two judge branches (in parallel) -> joined -> where they disagree.

    records ─┬──► helpfulness ─┐
             └──► correctness ─┴──► disagreements     JoinOn(record_id, question, answer)

The judges talk to any OpenAI-compatible endpoint:

    export OPENAI_BASE_URL=http://localhost:8000/v1   # default: https://api.openai.com/v1
    export OPENAI_API_KEY=...                         # read at request time, never stored
    export JUDGE_A_MODEL=gpt-4o-mini JUDGE_B_MODEL=gpt-4o   # optional: a different model per judge
    ddbuild -C examples/judge_two_ways --explain      # what would run, and the request estimate
    ddbuild -C examples/judge_two_ways -j 2           # both judges at once
"""

from __future__ import annotations

import os
from pathlib import Path

import ddbuild as dd

MIN_GAP = 2  # keep a record when the two 1-5 scores differ by at least this much

provider = dd.ModelProvider(
    name="openai",
    endpoint=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    api_key="env:OPENAI_API_KEY",
)


def judge_model(alias: str, env: str) -> dd.ModelConfig:
    params = dd.ChatCompletionInferenceParams(temperature=0.0, max_tokens=300, max_parallel_requests=4)
    return dd.ModelConfig(alias=alias, model=os.environ.get(env, "gpt-4o-mini"), provider="openai",
                          inference_parameters=params)


judge_a, judge_b = judge_model("judge_a", "JUDGE_A_MODEL"), judge_model("judge_b", "JUDGE_B_MODEL")
SCALE = {1: "very poor", 2: "poor", 3: "acceptable", 4: "good", 5: "excellent"}

# Stage 1: the Q/A records to audit (shipped with the example), keyed by record_id.
records = dd.DataDesignerConfigBuilder().with_seed_dataset(dd.LocalFileSeedSource(path="qa.jsonl"))

# Stage 2a: a lenient judge that rates helpfulness.
helpfulness = dd.DataDesignerConfigBuilder(model_configs=[judge_a]).add_column(
    name="helpfulness_judge", column_type="llm_judge", model_alias="judge_a",
    prompt="Helpful judge. Q: {{ question }}\nA: {{ answer }}\nHow helpful is this answer to the person asking?",
    scores=[dd.Score(name="helpfulness", description="Does the answer help the asker?", options=SCALE)],
).add_column(name="helpfulness", column_type="expression", expr="{{ helpfulness_judge.helpfulness.score }}",
             dtype="int")

# Stage 2b: a strict judge that grades factual correctness (a different rubric, maybe another model).
correctness = dd.DataDesignerConfigBuilder(model_configs=[judge_b]).add_column(
    name="correctness_judge", column_type="llm_judge", model_alias="judge_b",
    prompt="Strict grader. Q: {{ question }}\nA: {{ answer }}\nGrade only whether every claim is correct.",
    scores=[dd.Score(name="correctness", description="Is every claim factually right?", options=SCALE)],
).add_column(name="correctness", column_type="expression", expr="{{ correctness_judge.correctness.score }}",
             dtype="int")

# Stage 3: both verdicts side by side; the callback keeps only the records the judges disagree on.
verdicts = dd.DataDesignerConfigBuilder().add_column(
    name="gap", column_type="expression", expr="{{ (helpfulness - correctness) | abs }}", dtype="int"
)


def keep_disagreements(stage_dir: Path) -> Path:
    """on_success: write the rows whose scores differ by >= MIN_GAP; that file is the output."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(stage_dir / "parquet-files")
    kept = table.filter(pc.greater_equal(table["gap"], MIN_GAP))
    dest = stage_dir / "disagreements" / "disagreements.parquet"
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(kept, dest)
    return dest


workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="judge-two-ways")
workflow.add_stage("records", records)
workflow.add_stage("helpfulness", helpfulness, depends_on="records")
workflow.add_stage("correctness", correctness, depends_on="records")
workflow.add_stage(
    "disagreements", verdicts, depends_on=["helpfulness", "correctness"],
    join=dd.JoinOn(columns=["record_id", "question", "answer"]),
    on_success=keep_disagreements, on_success_version=f"gap>={MIN_GAP} v1",
    allow_empty=True,  # judges that always agree leave nothing to review: not an error
)
