"""Quickstart build file: customers -> tickets -> chatml, offline (no network, no API key).

    ddbuild -C examples/quickstart             # build the last stage (chatml) and its inputs
    ddbuild -C examples/quickstart --explain   # what would run, and why
"""

import ddbuild as dd

NUM_CUSTOMERS = 300

# Stage 1: customers, from samplers only.
customers = (
    dd.DataDesignerConfigBuilder(seed=7)
    .add_column(name="customer_id", column_type="sampler", sampler_type="uuid",
                params={"prefix": "C-", "short_form": True})
    .add_column(name="region", column_type="sampler", sampler_type="category",
                params={"values": ["north", "south", "east", "west"]})
    .add_column(name="tier", column_type="sampler", sampler_type="category",
                params={"values": ["free", "pro", "enterprise"], "weights": [6, 3, 1]})
    .add_column(name="age", column_type="sampler", sampler_type="uniform",
                params={"low": 18, "high": 80, "decimal_places": 0}, convert_to="int")
    .add_column(name="signup", column_type="sampler", sampler_type="datetime",
                params={"start": "2024-01-01", "end": "2025-12-31"})
)


@dd.custom_column_generator(required_columns=["tier", "urgent"])
def priority(row):
    """A custom column: the support priority from the tier and the urgency flag."""
    base = {"free": 3, "pro": 2, "enterprise": 1}[row["tier"]]
    row["priority"] = max(base - (1 if row["urgent"] else 0), 0)
    return row


# Stage 2: one support ticket per customer (seeded by stage 1's output).
tickets = (
    dd.DataDesignerConfigBuilder(seed=11)
    .add_column(name="topic", column_type="sampler", sampler_type="subcategory",
                params={"category": "tier", "values": {
                    "free": ["password reset", "billing question"],
                    "pro": ["api limits", "invoice", "integration"],
                    "enterprise": ["sso setup", "data export", "contract"],
                }})
    .add_column(name="urgent", column_type="sampler", sampler_type="bernoulli", params={"p": 0.2})
    .add_column(dd.CustomColumnConfig(name="priority", generator_function=priority))
    .add_column(name="question", column_type="expression",
                expr="Hi, I'm on the {{ tier }} plan in the {{ region }} region. "
                     "I need help with {{ topic }}{% if urgent %}, urgently{% endif %}.")
    .add_column(name="answer", column_type="expression",
                expr="Thanks for reaching out about {{ topic }}. A P{{ priority }} ticket is open for you.")
)

# Stage 3: reshape into chat-format training rows (processor-only stage).
chatml = dd.DataDesignerConfigBuilder().add_processor(
    dd.SchemaTransformProcessorConfig(
        name="chatml",
        template={
            "messages": [
                {"role": "system", "content": "You are a support agent. Priority P{{ priority }}."},
                {"role": "user", "content": "{{ question }}"},
                {"role": "assistant", "content": "{{ answer }}"},
            ],
        },
    )
)

workflow = dd.DataDesigner().compose_workflow(name="quickstart")
workflow.add_stage("customers", customers, num_records=NUM_CUSTOMERS)
workflow.add_stage(
    "tickets",
    tickets,
    output_processors=[dd.DropColumnsProcessorConfig(name="drop_pii", column_names=["customer_id", "age", "signup"])],
)
workflow.add_stage("chatml", chatml, output="processor:chatml")
