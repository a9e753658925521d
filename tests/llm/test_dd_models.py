"""Data Designer's model rules: API keys named by variables, predefined providers, default aliases,
and the user's ~/.data-designer files (a temporary home here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import ddbuild as dd
from ddbuild.errors import ModelConfigError

NVIDIA_UNSET = (
    "Model provider 'nvidia' reads its API key from the environment variable NVIDIA_API_KEY, which is "
    "not set; model alias 'nvidia-text' (column 'answer') needs it."
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME without ~/.data-designer (DATA_DESIGNER_HOME unset: HOME decides)."""
    monkeypatch.delenv("DATA_DESIGNER_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("NVIDIA_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _answer(alias: str = "nvidia-text", models: list | None = None) -> dd.DataDesignerConfigBuilder:
    builder = dd.DataDesignerConfigBuilder(model_configs=models)
    builder.add_column(name="topic", column_type="sampler", sampler_type="category", params={"values": ["a", "b"]})
    builder.add_column(name="answer", column_type="llm-text", model_alias=alias, prompt="Say {{ topic }}")
    return builder


def test_predefined_providers_and_default_aliases(home):
    designer = dd.DataDesigner()
    providers = {p.name: (p.endpoint, p.api_key_env_var) for p in designer.get_default_model_providers()}
    assert providers == {
        "nvidia": ("https://integrate.api.nvidia.com/v1", "NVIDIA_API_KEY"),
        "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
        "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    }
    models = {m.alias: (m.model, m.provider) for m in designer.get_default_model_configs()}
    assert models["nvidia-text"] == ("nvidia/nemotron-3.5-lightning-30b-a3b", "nvidia")
    assert models["nvidia-reasoning"] == ("nvidia/nemotron-3-super-120b-a12b", "nvidia")
    assert models["openai-text"] == ("gpt-4.1", "openai")
    assert models["openai-reasoning"] == ("gpt-5", "openai")
    assert models["openrouter-reasoning"] == ("openai/gpt-oss-20b", "openrouter")
    assert sorted(models) == sorted(f"{p}-{r}" for p in providers for r in ("text", "reasoning", "vision", "embedding"))


def test_validate_names_provider_variable_alias_and_column(home):
    designer = dd.DataDesigner()
    with pytest.raises(ModelConfigError) as info:
        designer.validate(_answer())
    assert info.value.message == NVIDIA_UNSET
    assert "export NVIDIA_API_KEY=" in info.value.hint


def test_model_config_naming_nvidia_needs_no_provider_declaration(home, monkeypatch):
    own = dd.ModelConfig(alias="mine", model="meta/llama-3.1-8b-instruct", provider="nvidia")
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-set")
    dd.DataDesigner().validate(_answer("mine", [own]))  # known provider, key variable set
    monkeypatch.delenv("NVIDIA_API_KEY")
    with pytest.raises(ModelConfigError, match="NVIDIA_API_KEY, which is not set; model alias 'mine'"):
        dd.DataDesigner().validate(_answer("mine", [own]))


def test_user_files_replace_the_builtins(home, openai_server, monkeypatch):
    """Data Designer's own file format (it writes extra_headers: null, a legacy default: key)."""
    folder = home / ".data-designer"
    folder.mkdir()
    (folder / "model_providers.yaml").write_text(textwrap.dedent(f"""\
        default: nvidia
        providers:
        - name: nvidia
          endpoint: {openai_server.url}
          provider_type: openai
          api_key: MY_NV_KEY
          extra_headers: null
          extra_body: null
        """))
    (folder / "model_configs.yaml").write_text(textwrap.dedent("""\
        model_configs:
        - alias: nvidia-text
          model: house-model
          provider: nvidia
          inference_parameters: {generation_type: chat-completion, temperature: 0.5, top_p: null,
                                 max_tokens: null, max_parallel_requests: 4, timeout: null, extra_body: null}
          skip_health_check: false
        """))
    monkeypatch.setenv("MY_NV_KEY", "nvapi-from-variable")
    designer = dd.DataDesigner(artifact_path=home.parent / "artifacts")
    assert [p.name for p in designer.get_default_model_providers()] == ["nvidia"]
    assert [m.model for m in designer.get_default_model_configs()] == ["house-model"]
    result = designer.create(_answer(), num_records=3, dataset_name="d")
    assert list(result.load_dataset()["answer"].str.startswith("reply to: Say")) == [True] * 3
    assert {r.model for r in openai_server.records} == {"house-model"}
    assert {r.authorization for r in openai_server.records} == {"Bearer nvapi-from-variable"}


@pytest.mark.parametrize(
    ("api_key", "env", "sent"),
    [
        ("DDB_TEST_KEY_VAR", {"DDB_TEST_KEY_VAR": "sk-from-var"}, "sk-from-var"),  # a variable name, set
        ("sk-literal-key", {}, "sk-literal-key"),  # not a variable: the key itself
        ("lower_case_name", {"lower_case_name": "sk-lower"}, "sk-lower"),  # any set variable's name
        ("lower_case_name", {}, "lower_case_name"),  # unset and not spelled like one: literal
        ("env:DDB_TEST_KEY_VAR", {"DDB_TEST_KEY_VAR": "sk-env-prefix"}, "sk-env-prefix"),
    ],
)
def test_api_key_resolution(home, openai_server, monkeypatch, api_key, env, sent):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider = dd.ModelProvider(name="local", endpoint=openai_server.url, api_key=api_key)
    designer = dd.DataDesigner(artifact_path=home.parent / "artifacts", model_providers=[provider])
    model = dd.ModelConfig(alias="fast", model="m", provider="local")
    designer.create(_answer("fast", [model]), num_records=2, dataset_name="d")
    assert {r.authorization for r in openai_server.records} == {f"Bearer {sent}"}


@pytest.mark.parametrize("api_key", ["DDB_UNSET_KEY_VAR", "env:DDB_UNSET_KEY_VAR"])
def test_unset_key_variable_is_refused_before_sending(home, openai_server, api_key):
    provider = dd.ModelProvider(name="local", endpoint=openai_server.url, api_key=api_key)
    designer = dd.DataDesigner(artifact_path=home.parent / "artifacts", model_providers=[provider])
    model = dd.ModelConfig(alias="fast", model="m", provider="local")
    with pytest.raises(ModelConfigError) as info:
        designer.create(_answer("fast", [model]), num_records=2, dataset_name="d")
    assert info.value.message == (
        "Model provider 'local' reads its API key from the environment variable DDB_UNSET_KEY_VAR, which "
        "is not set; model alias 'fast' (column 'answer') needs it."
    )
    assert openai_server.total == 0


def test_default_aliases_enter_only_the_keys_of_stages_that_use_them(home, openai_server):
    """A builder without model configs gets the default aliases its columns name: the stage key
    equals the one of the same config declared by hand, and a stage without LLM columns is unchanged."""
    folder = home / ".data-designer"
    folder.mkdir()
    (folder / "model_providers.yaml").write_text(
        f"providers:\n- name: nvidia\n  endpoint: {openai_server.url}\n  api_key: null\n")
    designer = dd.DataDesigner(artifact_path=home.parent / "artifacts")
    [nvidia_text] = [m for m in designer.get_default_model_configs() if m.alias == "nvidia-text"]
    implicit = designer.compose_workflow(name="w").add_stage("s", _answer())
    explicit = designer.compose_workflow(name="w").add_stage("s", _answer(models=[nvidia_text]))
    assert implicit.plan().stages[0].key == explicit.plan().stages[0].key
    assert [m.alias for m in implicit.stages[0].builder.model_configs] == ["nvidia-text"]
    results = implicit.run()
    assert results.stages["s"].rows == 10 and openai_server.total == 10
    assert {r.model for r in openai_server.records} == {"nvidia/nemotron-3.5-lightning-30b-a3b"}


DD_HOME = Path(__file__).parent / "dd_home"  # the files Data Designer 0.9.7 writes on first use (see README)


def test_data_designer_written_home_files_equal_the_builtins(monkeypatch):
    """The files Data Designer seeds ~/.data-designer with load, and hold exactly ddbuild's built-in
    providers and default aliases (the embedding ones included)."""
    from ddbuild.engine.llm.catalogue import (
        builtin_model_configs,
        builtin_providers,
        default_model_configs,
        default_model_providers,
    )

    monkeypatch.setenv("DATA_DESIGNER_HOME", str(DD_HOME))

    def providers(found: list) -> list:
        return [(p.name, p.endpoint, p.api_key.get_secret_value(), p.model_dump()) for p in found]

    assert providers(default_model_providers()) == providers(builtin_providers())
    assert [m.model_dump() for m in default_model_configs()] == [m.model_dump() for m in builtin_model_configs()]
    assert "nvidia-embedding" in (DD_HOME / "model_configs.yaml").read_text()


def test_unknown_alias_without_model_configs_points_at_the_defaults(home):
    with pytest.raises(ModelConfigError) as info:
        dd.DataDesigner().validate(_answer("nvidia-txt"))
    assert info.value.message == "Column 'answer' uses model_alias 'nvidia-txt', which is not configured."
    assert "default alias (e.g. 'nvidia-text'" in info.value.hint
