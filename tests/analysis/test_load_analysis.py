"""load_analysis(): a per-column profile of a stage's output, computed once and cached under the stage key."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.analysis import ColumnDistributionType, DatasetAnalysis
from ddbuild.analysis.profile import profiles_computed
from tests.dag.dag_helpers import designer, model, write_seed

REPO = Path(__file__).resolve().parents[2]



def _qa_workflow(server) -> dd.DataDesigner:
    builder = (
        dd.DataDesignerConfigBuilder(model_configs=[model("fast", "qa-model")], seed=7)
        .with_seed_dataset(dd.LocalFileSeedSource(path="seed.parquet"))
        .add_column(name="answer", column_type="llm_text", model_alias="fast", prompt="Answer: {{ text }}")
        .add_column(name="size", column_type="sampler", sampler_type="category",
                    params={"values": ["small", "large"]})
        .add_column(name="score", column_type="sampler", sampler_type="uniform",
                    params={"low": 0, "high": 10})
    )
    workflow = designer(server).compose_workflow(name="qa")
    workflow.add_stage("qa", builder, num_records=12)
    return workflow


def test_profile_per_column_with_llm_tokens(project, server):
    write_seed(project / "seed.parquet", rows=12)
    results = _qa_workflow(server).run()
    analysis = results.load_analysis()

    assert isinstance(analysis, DatasetAnalysis) and analysis.num_records == 12
    assert analysis.column_names == ["id", "text", "answer", "size", "score"]
    assert analysis["id"].column_type == "seed-dataset" and analysis["answer"].column_type == "llm-text"
    assert analysis["size"].column_type == "sampler"

    size = analysis["size"]
    assert size.distribution_type is ColumnDistributionType.CATEGORICAL
    assert sorted(size.top_values.categories) == ["large", "small"] and sum(size.top_values.counts) == 12
    frame = results.load_dataset()
    assert dict(zip(size.top_values.categories, size.top_values.counts, strict=True)) == frame["size"].value_counts().to_dict()

    score = analysis["score"]
    assert score.distribution_type is ColumnDistributionType.NUMERICAL
    assert score.numerical.min == pytest.approx(frame["score"].min())
    assert score.numerical.mean == pytest.approx(frame["score"].mean())
    assert score.numerical.stddev == pytest.approx(frame["score"].std())
    assert sum(score.numerical.counts) == 12 and score.num_unique == frame["score"].nunique()

    answer = analysis["answer"]
    assert answer.distribution_type is ColumnDistributionType.TEXT and answer.num_null == 0
    # the test server counts whitespace words as tokens: 2 prompt words, reply "reply to: Answer: tN"
    assert answer.llm_usage.requests_sent == 12 and answer.llm_usage.served_from_cache == 0
    assert answer.llm_usage.input_tokens == 24 and answer.llm_usage.output_tokens == 12 * 4
    assert answer.llm_usage.input_tokens_mean == 2.0
    assert analysis["size"].llm_usage is None

    table = str(analysis)
    assert table.splitlines()[0] == "Dataset analysis: 12 records of 12 requested (100.0% complete)"
    lines = table.splitlines()
    assert lines[1].split() == ["column", "type", "dtype", "nulls", "unique", "llm", "sent", "llm", "cached",
                                "tokens", "in/value", "tokens", "out/value", "summary"]
    assert next(line for line in lines if line.split()[0] == "answer").split()[6:10] == ["12", "0", "2", "4"]
    assert DatasetAnalysis.from_dict(json.loads(json.dumps(analysis.to_dict()))) == analysis
    assert list(analysis.to_dataframe()["column_name"]) == analysis.column_names


def test_second_call_and_second_process_read_the_cache(project, server):
    write_seed(project / "seed.parquet", rows=12)
    results = _qa_workflow(server).run()
    before = profiles_computed()
    first = results["qa"].load_analysis()
    assert profiles_computed() == before + 1
    assert results["qa"].load_analysis() == first and profiles_computed() == before + 1
    cached = list((project / ".ddbuild/cache/index/analysis").rglob("*.json"))
    key = results.stages["qa"].key
    assert [p.name.split("-")[0] for p in cached] == [key]

    # a second process: rebuilds nothing, profiles nothing, gets the same analysis
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.analysis.test_load_analysis import _qa_workflow
        from tests.openai_server import start_server
        from ddbuild.analysis.profile import profiles_computed
        server = start_server(latency_ms=0)
        results = _qa_workflow(server).run()
        analysis = results["qa"].load_analysis()
        server.stop()
        print(json.dumps({{"runs": results.executions, "profiles": profiles_computed(),
                           "analysis": analysis.to_dict()}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True)
    reply = json.loads(out.stdout.splitlines()[-1])
    assert reply["runs"] == 0 and reply["profiles"] == 0
    assert reply["analysis"] == first.to_dict()


def test_changed_output_is_profiled_again(project, server):
    write_seed(project / "seed.parquet", rows=12)
    _qa_workflow(server).run().load_analysis()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(12)), "text": ["same"] * 12}), project / "seed.parquet")
    before = profiles_computed()
    analysis = _qa_workflow(server).run().load_analysis()
    assert profiles_computed() == before + 1 and analysis["text"].num_unique == 1


def test_corrupt_cached_analysis_is_a_miss(project, server, caplog):
    write_seed(project / "seed.parquet", rows=12)
    results = _qa_workflow(server).run()
    good = results.load_analysis()
    (cached,) = (project / ".ddbuild/cache/index/analysis").rglob("*.json")
    cached.write_text('{"format_version": 1, "num_records": -3, "column_statistics": []}')
    before = profiles_computed()
    assert results.load_analysis() == good and profiles_computed() == before + 1
    assert "unreadable" in caplog.text and "num_records is not a count" in caplog.text


def test_create_results_analysis(project):
    builder = (
        dd.DataDesignerConfigBuilder(seed=1)
        .add_column(name="flag", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5})
        .add_column(name="note", column_type="expression", expr="{% if flag %}<script>alert(1)</script>{% endif %}")
    )
    results = dd.DataDesigner().create(builder, num_records=20, dataset_name="ds")
    before = profiles_computed()
    analysis = results.load_analysis()
    again = dd.DataDesigner().create(builder, num_records=20, dataset_name="ds", resume="if_possible")
    assert again.load_analysis() == analysis and profiles_computed() == before + 1
    assert analysis["flag"].column_type == "sampler" and analysis["note"].column_type == "expression"
    frame = results.load_dataset()
    assert analysis["note"].num_unique == frame["note"].nunique()


def test_nested_values_and_nulls(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ddbuild.analysis.profile import analyze_files

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({
        "tags": [["a", "b"], ["a", "b"], None, ["c"]],
        "meta": [{"k": 1}, {"k": 2}, {"k": 1}, None],
        "f": [1.5, float("nan"), None, 2.5],
        "empty": pa.nulls(4, pa.string()),
    }), path)
    analysis = analyze_files([path])
    assert analysis["tags"].simple_dtype == "list" and analysis["tags"].num_unique == 2
    assert analysis["tags"].top_values.categories[0] == '["a", "b"]' and analysis["tags"].num_null == 1
    assert analysis["meta"].simple_dtype == "dict" and analysis["meta"].num_unique == 2
    assert analysis["f"].num_null == 2 and analysis["f"].numerical.mean == 2.0
    assert analysis["empty"].num_null == 4 and analysis["empty"].num_unique == 0
    assert "all null" in str(analysis)


def test_report_and_load_analysis_share_one_cached_profile(project, server):
    from ddbuild.analysis.entry import entry_analysis
    from ddbuild.store import FileSystemStore

    write_seed(project / "seed.parquet", rows=12)
    results = _qa_workflow(server).run()
    analysis = results["qa"].load_analysis()
    before = profiles_computed()
    store = FileSystemStore(project / ".ddbuild/cache")
    entry = store.get_entry(results.stages["qa"].key)
    assert entry_analysis(store, entry, project / ".ddbuild/cache") == analysis
    assert profiles_computed() == before  # the stage's dataset is its selected output: same inputs, same file


def test_to_report_writes_an_escaped_page(project, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ddbuild.analysis.profile import analyze_files

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"<b>name</b>": ["<script>x</script>", "a\x00b", "<script>x</script>"]}), path)
    analysis = analyze_files([path])
    analysis.to_report(str(tmp_path / "page.html"))
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; ×2" in page and "&lt;b&gt;name&lt;/b&gt;" in page
    assert "a\\x00b" in page and "\x00" not in page  # control characters shown escaped
    assert capsys.readouterr().out.startswith("Dataset analysis: 3 records")
