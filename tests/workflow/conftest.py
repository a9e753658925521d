"""Fixtures for workflow tests: a project directory as the working directory, small builders."""

from __future__ import annotations

from pathlib import Path

import ddbuild as dd


def write_seed(path: Path, rows: int = 6, offset: int = 0) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(offset, offset + rows)), "text": [f"t{i}" for i in range(rows)]}), path)
    return path


def sampler_builder(seed: int = 0) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder(seed=seed).add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 10}
    )


def expr_builder(expr: str = "{{ x }}!", name: str = "y") -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_column(name=name, column_type="expression", expr=expr)


def drop_builder(columns: list[str]) -> dd.DataDesignerConfigBuilder:
    return dd.DataDesignerConfigBuilder().add_processor(dd.DropColumnsProcessorConfig(name="drop", column_names=columns))


def three_stage(designer: dd.DataDesigner | None = None, *, a_records: int = 5, b_expr: str = "{{ x }}!",
                c_expr: str = "{{ y }}?") -> object:
    workflow = (designer or dd.DataDesigner()).compose_workflow(name="wf")
    workflow.add_stage("a", sampler_builder(), num_records=a_records)
    workflow.add_stage("b", expr_builder(b_expr, "y"))
    workflow.add_stage("c", expr_builder(c_expr, "z"))
    return workflow
