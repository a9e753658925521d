"""``ddbuild report``: one self-contained HTML page, checked as text and in a real headless Chromium.

The browser is Debian's ``chromium-headless-shell`` (``.ci/run`` installs it), started by the test
and driven over the DevTools pipe (tests/browser.py). Screenshots go to tests/artifacts/ (not in git).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ddbuild.analysis.profile import profiles_computed
from tests.browser import INSTALL_HINT, Chromium, find_chromium
from tests.openai_server import start_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# Stage names and a value that an HTML page must show as text, never run.
EVIL = "<script>alert(1)</script>"
BUILD_FILE = '''
import os
import ddbuild as dd

provider = dd.ModelProvider(name="local", endpoint=os.environ["TEST_LLM_URL"])
fast = dd.ModelConfig(alias="fast", model="m", provider="local")

seed = (
    dd.DataDesignerConfigBuilder(seed=5)
    .add_column(name="n", column_type="sampler", sampler_type="uniform",
                params={"low": 0, "high": 50, "decimal_places": 0}, convert_to="int")
    .add_column(name="kind", column_type="sampler", sampler_type="category",
                params={"values": ["<script>alert(1)</script>", "plain"]})
)
ask = dd.DataDesignerConfigBuilder(model_configs=[fast]).add_column(
    name="answer", column_type="llm_text", model_alias="fast",
    prompt="Say something about " + os.environ.get("TEST_TOPIC", "{{ n }}"))
tidy = dd.DataDesignerConfigBuilder().add_column(
    name="<img src=x onerror=alert(2)>", column_type="expression", expr="{{ kind }} / {{ answer }}")
side = dd.DataDesignerConfigBuilder().add_column(name="m", column_type="expression", expr="{{ n * 2 }}")

workflow = dd.DataDesigner(model_providers=[provider]).compose_workflow(name="qa")
workflow.add_stage("seed-stage", seed, num_records=12)
workflow.add_stage("ask_llm", ask, depends_on="seed-stage")
workflow.add_stage("tidy", tidy, depends_on="ask_llm")
workflow.add_stage("side", side, depends_on="seed-stage")
'''
STAGES = ["seed-stage", "ask_llm", "tidy", "side"]


@pytest.fixture
def qa(project, monkeypatch):
    server = start_server(latency_ms=0)
    monkeypatch.setenv("TEST_LLM_URL", server.url)
    monkeypatch.delenv("TEST_TOPIC", raising=False)
    project.write(BUILD_FILE)
    try:
        yield project, server
    finally:
        server.stop()


def _states(html: str) -> dict[str, str]:
    """Stage name -> state, from the stage table's rows."""
    rows = re.findall(r'<td class="stage-name">(.*?)</td><td class="state"[^>]*>(.*?)</td>', html)
    return dict(rows)


def test_report_shows_states_numbers_and_escaped_data(qa):
    project, server = qa
    assert project.main("-s").exit_code == 0
    sent = server.total
    assert sent == 12

    done = project.main("report", "tidy", "side", "-o", "out/report.html")
    assert done.exit_code == 0, done.stderr
    html = (project.root / "out/report.html").read_text(encoding="utf-8")
    assert server.total == sent  # a report sends nothing and builds nothing

    assert _states(html) == dict.fromkeys(STAGES, "built")
    row = re.search(r'<td class="stage-name">ask_llm</td>.*?</tr>', html).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    # rows, sent, cached, tokens: the server counts words, 4 in "Say something about N", 6 in its reply
    assert cells[:4] == ["12", "12", "0", str(12 * (4 + 6))]
    assert re.search(r"\d+\.\d\ds", row)  # the last build's time for the stage

    # nothing from the data is markup: no script, no img, the values shown escaped
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch
    assert html.count("<svg class=\"chart\"") == 4 + 3  # tidy: n, kind, answer, <img..>; side: n, kind, m


def test_report_in_a_headless_browser(qa):
    executable = find_chromium()
    if executable is None:
        pytest.skip(f"no Chromium to open the report in: {INSTALL_HINT}")
    project, _ = qa
    assert project.main("-s").exit_code == 0
    assert project.main("report", "tidy", "side", "-o", "report.html").exit_code == 0

    started = time.monotonic()
    with Chromium.start(executable) as browser:
        page = browser.open((project.root / "report.html").as_uri())
        assert page.errors == []  # no console error, exception, blocked script or failed fetch
        text = page.text
        assert all(name in text for name in STAGES)
        assert EVIL in text and "<img src=x onerror=alert(2)>" in text  # shown as text
        assert page.evaluate("document.querySelectorAll('script, img, iframe, object, embed, link').length") == 0
        assert page.evaluate("document.querySelectorAll('svg.graph g.node').length") == len(STAGES)
        assert page.evaluate("performance.getEntriesByType('resource').length") == 0  # nothing fetched
        shot = page.screenshot(ARTIFACTS / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert time.monotonic() - started < 20


def test_report_after_an_edit_and_its_analysis_is_cached(qa, monkeypatch):
    project, server = qa
    assert project.main("-s").exit_code == 0
    assert project.main("report", "tidy", "-o", "first.html").exit_code == 0
    before = profiles_computed()
    assert project.main("report", "tidy", "-o", "again.html").exit_code == 0
    assert profiles_computed() == before  # the analysis was cached under tidy's stage key

    monkeypatch.setenv("TEST_TOPIC", "cats")
    assert project.main("report", "tidy", "side", "-o", "edited.html").exit_code == 0
    html = (project.root / "edited.html").read_text(encoding="utf-8")
    assert _states(html) == {"seed-stage": "built", "ask_llm": "would build", "tidy": "pending", "side": "built"}
    assert 'class="node state-would_build"' in html and 'class="node state-pending"' in html
    assert "Not built yet (pending: waits for ask_llm to run first)" in html
    assert server.total == 12  # still only the first build's requests

    assert project.main("-s").exit_code == 0  # rebuild: ask_llm and tidy ran, the others are hits
    assert project.main("report", "tidy", "side", "-o", "rebuilt.html").exit_code == 0
    states = _states((project.root / "rebuilt.html").read_text(encoding="utf-8"))
    assert states == {"seed-stage": "cached", "ask_llm": "built", "tidy": "built", "side": "cached"}


def test_report_marks_a_failed_stage(dag, monkeypatch):
    monkeypatch.setenv("TEST_FAIL_BRANCH", "1")
    assert dag.main("-s", "-k").exit_code == 1
    assert dag.main("report", "-o", "r.html").exit_code == 0
    html = (dag.root / "r.html").read_text(encoding="utf-8")
    assert _states(html) == {"base": "built", "bad": "failed", "good": "built"}
    assert "the last build failed here (no entry in the cache)" in html
    assert "Not built yet (run: no entry in the cache)" in html  # bad is a target: no data

    monkeypatch.delenv("TEST_FAIL_BRANCH")  # fixed: the same key would build
    assert dag.main("-s").exit_code == 0
    assert dag.main("report", "-o", "r.html").exit_code == 0
    html = (dag.root / "r.html").read_text(encoding="utf-8")
    assert _states(html) == {"base": "cached", "bad": "built", "good": "cached"}
