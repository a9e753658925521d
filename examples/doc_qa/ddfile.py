"""doc_qa build file: passages -> summary -> question -> answer -> chatml training rows.

The LLM stages talk to any OpenAI-compatible endpoint:

    export OPENAI_BASE_URL=http://localhost:8000/v1   # default: https://api.openai.com/v1
    export OPENAI_API_KEY=...                         # read at request time, never stored
    export DOC_QA_MODEL=gpt-4o-mini                   # optional
    ddbuild -C examples/doc_qa --explain              # cost estimate; sends nothing
    ddbuild -C examples/doc_qa
"""

import os

import ddbuild as dd

MODEL = os.environ.get("DOC_QA_MODEL", "gpt-4o-mini")

provider = dd.ModelProvider(
    name="openai",
    endpoint=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    api_key="env:OPENAI_API_KEY",
)
fast = dd.ModelConfig(
    alias="fast",
    model=MODEL,
    provider="openai",
    inference_parameters=dd.ChatCompletionInferenceParams(temperature=0.3, max_tokens=256, max_parallel_requests=8),
)

# Stage 1: the seed documents (shipped with the example), one summary per passage.
summaries = (
    dd.DataDesignerConfigBuilder(model_configs=[fast])
    .with_seed_dataset(dd.LocalFileSeedSource(path="passages.jsonl"))
    .add_column(name="summary", column_type="llm_text", model_alias="fast",
                prompt="Summarize this passage in two sentences.\n\nTitle: {{ title }}\n\n{{ text }}")
)

# Stage 2: a question a student could answer from the passage.
questions = dd.DataDesignerConfigBuilder(model_configs=[fast]).add_column(
    name="question", column_type="llm_text", model_alias="fast",
    prompt="Write one question about '{{ title }}' that this summary answers.\n\n{{ summary }}",
)

# Stage 3: the answer, grounded in the full passage.
answers = dd.DataDesignerConfigBuilder(model_configs=[fast]).add_column(
    name="answer", column_type="llm_text", model_alias="fast",
    prompt="Answer the question using only the passage.\n\nQuestion: {{ question }}\n\nPassage: {{ text }}",
)

# Stage 4: chat-format training rows (processor-only; the selected output is the transform).
chatml = dd.DataDesignerConfigBuilder().add_processor(
    dd.SchemaTransformProcessorConfig(
        name="chatml",
        template={
            "messages": [
                {"role": "user", "content": "{{ question }}"},
                {"role": "assistant", "content": "{{ answer }}"},
            ],
            "source": "{{ doc_id }}",
        },
    )
)

workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="doc-qa")
workflow.add_stage("summaries", summaries)
workflow.add_stage("questions", questions)
workflow.add_stage(
    "answers",
    answers,
    output_processors=[dd.DropColumnsProcessorConfig(name="drop_scratch", column_names=["summary"])],
)
workflow.add_stage("chatml", chatml, output="processor:chatml")
