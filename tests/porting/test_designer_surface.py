"""The rest of Data Designer 0.9.7's ``DataDesigner`` surface: its constructor keywords, secret
resolvers, ``check_models``, ``acreate`` and ``create(artifact_path=, on_batch_complete=)``.
Requests are counted at the OpenAI-compatible test server; secrets are searched for on disk."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path

import pytest

import ddbuild.config as dd
from ddbuild.engine import secret_resolver as resolvers
from ddbuild.engine.errors import SecretResolutionError
from ddbuild.errors import APIKeyError, ConfigError, LLMRequestError, ModelConfigError, NotSupportedError
from ddbuild.interface import DataDesigner
from ddbuild.interface.errors import DataDesignerGenerationError
from tests.openai_server import FakeOpenAIServer

# Data Designer 0.9.7's constructor, read from the installed package: (name, default)
DD_KEYWORDS = [
    ("artifact_path", None), ("model_providers", None), ("secret_resolver", None), ("seed_readers", None),
    ("managed_assets_path", None), ("person_reader", None), ("mcp_providers", None),
    ("auto_configure_logging", True),
]
SECRET = "sk-from-the-secrets-file-7c1f"



@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DDB_PORT_KEY", raising=False)
    return tmp_path


def _builder(*aliases: str, skip: tuple[str, ...] = ()) -> dd.DataDesignerConfigBuilder:
    models = [dd.ModelConfig(alias=a, model=f"model-{a}", provider="local", skip_health_check=a in skip)
              for a in dict.fromkeys(aliases)]
    builder = dd.DataDesignerConfigBuilder(model_configs=models)
    builder.add_column(dd.SamplerColumnConfig(name="topic", sampler_type=dd.SamplerType.CATEGORY,
                                              params=dd.CategorySamplerParams(values=["a", "b"])))
    for i, alias in enumerate(aliases):
        builder.add_column(dd.LLMTextColumnConfig(name=f"text{i}", model_alias=alias, prompt=f"Say {i} {{{{ topic }}}}"))
    return builder


def _designer(server_url: str, api_key: str | None = "DDB_PORT_KEY", **kwargs) -> DataDesigner:
    return DataDesigner(model_providers=[dd.ModelProvider(name="local", endpoint=server_url, api_key=api_key)],
                        **kwargs)


def _files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# -- the constructor --------------------------------------------------------------------------------


def test_the_constructor_takes_data_designers_keywords_then_ddbuilds() -> None:
    parameters = list(inspect.signature(DataDesigner).parameters.values())
    assert [(p.name, p.default) for p in parameters[: len(DD_KEYWORDS)]] == DD_KEYWORDS
    assert parameters[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])
    assert [p.name for p in parameters[len(DD_KEYWORDS):]] == ["cache", "remote", "remote_upload", "require_signed", "executor"]


def test_every_method_data_designer_has_exists_with_its_keywords() -> None:
    methods = {  # Data Designer 0.9.7's public methods -> their keyword-only parameters (callable by name here)
        "create": ["num_records", "dataset_name", "resume", "artifact_path", "on_batch_complete"],
        "acreate": ["num_records", "dataset_name", "resume", "artifact_path"],
        "preview": ["num_records"], "validate": [], "check_models": ["max_attempts", "retry_backoff_seconds"],
        "compose_workflow": ["name"], "set_run_config": [], "get_default_model_configs": [],
        "get_default_model_providers": [], "get_models": [], "list_mcp_tool_names": ["timeout_sec"],
    }
    for name, keywords in methods.items():
        parameters = inspect.signature(getattr(DataDesigner, name)).parameters.values()
        named = [p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
        assert [n for n in named if n in keywords] == keywords, name
    assert inspect.iscoroutinefunction(DataDesigner.acreate)


def test_defaults_spelled_out_are_accepted(project: Path) -> None:
    designer = DataDesigner(None, model_providers=None, secret_resolver=None, seed_readers=None,
                            managed_assets_path=None, person_reader=None, mcp_providers=[],
                            auto_configure_logging=False)
    assert designer.artifact_path == Path("artifacts")
    assert designer.secret_resolver is resolvers.DEFAULT_SECRET_RESOLVER


@pytest.mark.parametrize(("keyword", "value", "why"), [
    ("seed_readers", [object()], "ddbuild reads its seed sources itself"),
    ("managed_assets_path", "/data/managed", "ddbuild's person samplers use Faker"),
    ("person_reader", object(), "ddbuild's person samplers use Faker"),
    ("mcp_providers", [object()], "ddbuild has no MCP tool calling yet"),
])
def test_a_keyword_ddbuild_cannot_honour_is_refused_by_name(project: Path, keyword: str, value: object,
                                                           why: str) -> None:
    with pytest.raises(NotSupportedError) as info:
        DataDesigner(**{keyword: value})
    assert info.value.message == f"not supported by ddbuild yet: DataDesigner({keyword}=...)."
    assert info.value.hint.startswith(why) and info.value.exit_code == 2


def test_a_resolver_without_resolve_is_refused(project: Path) -> None:
    with pytest.raises(ModelConfigError, match=r"must have a resolve\(reference\) method, got dict"):
        DataDesigner(secret_resolver={"DDB_PORT_KEY": "x"})


@pytest.mark.parametrize("method", ["get_models", "list_mcp_tool_names"])
def test_facades_and_mcp_tools_are_refused_by_name(project: Path, method: str) -> None:
    with pytest.raises(NotSupportedError, match=rf"^not supported by ddbuild yet: DataDesigner\.{method}\. "):
        getattr(DataDesigner(), method)(["x"] if method == "get_models" else "x")


# -- secret resolvers -------------------------------------------------------------------------------


def test_data_designers_resolver_classes_resolve_as_there(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"NV_KEY": "sk-file"}))
    env = resolvers.EnvironmentResolver({"NV_KEY": "sk-env"})
    assert env.resolve("NV_KEY") == "sk-env"
    assert resolvers.SecretsFileResolver(secrets).resolve("NV_KEY") == "sk-file"
    assert resolvers.PlaintextResolver().resolve("sk-literal") == "sk-literal"
    both = resolvers.CompositeResolver([resolvers.EnvironmentResolver({}), resolvers.SecretsFileResolver(secrets)])
    assert both.resolve("NV_KEY") == "sk-file" and len(both.resolvers) == 2
    with pytest.raises(SecretResolutionError, match="has no entry 'NV_KEY'"):
        resolvers.SecretsFileResolver(tmp_path / "absent.json").resolve("NV_KEY")  # no file: no secrets
    with pytest.raises(SecretResolutionError) as info:
        both.resolve("OTHER_KEY")
    assert info.value.message == (
        "No resolver could resolve 'OTHER_KEY' (EnvironmentResolver: Environment variable 'OTHER_KEY' is not set.; "
        f"SecretsFileResolver: Secrets file '{secrets}' has no entry 'OTHER_KEY'.)."
    )
    with pytest.raises(SecretResolutionError) as info:
        resolvers.EnvironmentResolver({}).resolve("sk-live-key-0123")
    assert "sk-live-key-0123" not in str(info.value)  # a reference not spelled like a variable is never shown


def test_a_broken_secrets_file_is_named_without_its_content(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.json"
    broken.write_text('{"NV_KEY": "sk-half-written')
    with pytest.raises(ModelConfigError) as info:
        resolvers.SecretsFileResolver(broken)
    assert info.value.message == f"Secrets file '{broken}' is not valid JSON (line 1, column 12)."
    assert "sk-half" not in str(info.value)


def test_a_secrets_file_resolver_sends_the_files_key_and_nothing_stores_it(project: Path,
                                                                        server: FakeOpenAIServer) -> None:
    (project / "secrets.json").write_text(json.dumps({"DDB_PORT_KEY": SECRET}))
    resolver = resolvers.CompositeResolver([resolvers.EnvironmentResolver(),
                                            resolvers.SecretsFileResolver(project / "secrets.json")])
    designer = _designer(server.url, secret_resolver=resolver)
    assert designer.secret_resolver is resolver
    results = designer.create(_builder("fast"), num_records=4, dataset_name="d")
    assert len(results.load_dataset()) == 4 and server.total == 4
    assert {r.authorization for r in server.records} == {f"Bearer {SECRET}"}
    workflow = designer.compose_workflow(name="w")
    workflow.add_stage("texts", _builder("fast"), num_records=3)
    workflow.run()
    assert {r.authorization for r in server.records} == {f"Bearer {SECRET}"}
    (project / "secrets.json").unlink()
    assert _files_holding(project, SECRET) == []


def test_a_users_own_resolver_is_asked_for_the_reference(project: Path, server: FakeOpenAIServer) -> None:
    class Vault:
        asked: list[str] = []

        def resolve(self, secret: str) -> str:
            self.asked.append(secret)
            return {"DDB_PORT_KEY": SECRET}[secret]

    _designer(server.url, secret_resolver=Vault()).create(_builder("fast"), num_records=2, dataset_name="d")
    assert Vault.asked and set(Vault.asked) == {"DDB_PORT_KEY"}
    assert {r.authorization for r in server.records} == {f"Bearer {SECRET}"}


def test_an_unresolved_key_is_a_secret_resolution_error_before_sending(project: Path,
                                                                    server: FakeOpenAIServer) -> None:
    designer = _designer(server.url, secret_resolver=resolvers.SecretsFileResolver(project / "none.json"))
    with pytest.raises(SecretResolutionError) as info:
        designer.create(_builder("fast"), num_records=2, dataset_name="d")
    assert info.value.message == (
        "Model provider 'local' cannot resolve its API key 'DDB_PORT_KEY'; model alias 'fast' (column 'text0') "
        f"needs it: Secrets file '{project / 'none.json'}' has no entry 'DDB_PORT_KEY'."
    )
    assert server.total == 0


def test_the_default_unset_variable_error_is_a_secret_resolution_error(project: Path,
                                                                    server: FakeOpenAIServer) -> None:
    with pytest.raises(SecretResolutionError, match="environment variable DDB_PORT_KEY, which is not set"):
        _designer(server.url).validate(_builder("fast"))
    assert server.total == 0


def test_a_literal_key_that_does_not_resolve_is_never_shown(project: Path, server: FakeOpenAIServer) -> None:
    literal = "sk-literal-key-9f3a2b"
    designer = _designer(server.url, api_key=literal, secret_resolver=resolvers.EnvironmentResolver())
    with pytest.raises(APIKeyError) as info:
        designer.validate(_builder("fast"))
    assert literal not in str(info.value) and "cannot resolve its API key (not shown" in info.value.message


def test_the_resolver_is_not_part_of_a_key(project: Path, server: FakeOpenAIServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDB_PORT_KEY", "sk-env")
    keys = set()
    for resolver in (None, resolvers.PlaintextResolver(), resolvers.EnvironmentResolver()):
        workflow = _designer(server.url, secret_resolver=resolver).compose_workflow(name="w")
        workflow.add_stage("texts", _builder("fast"), num_records=3)
        keys.add(workflow.plan().stages[0].key)
    assert len(keys) == 1


# -- check_models -----------------------------------------------------------------------------------


def test_check_models_sends_one_request_per_used_alias_every_time(project: Path, server: FakeOpenAIServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDB_PORT_KEY", SECRET)
    designer = _designer(server.url)
    builder = _builder("fast", "slow", "fast", "quiet", skip=("quiet",))
    builder.add_model_config(dd.ModelConfig(alias="vec", model="model-vec", provider="local",
                                            inference_parameters=dd.EmbeddingInferenceParams()))
    builder.add_column(dd.EmbeddingColumnConfig(name="vector", target_column="text0", model_alias="vec"))
    assert designer.check_models(builder) is None
    assert server.total == 3 and [r.model for r in server.records] == ["model-fast", "model-slow", "model-vec"]
    assert server.by_api == {"chat": 2, "embeddings": 1}
    assert {r.last_user for r in server.records} == {"Hello!"}
    assert {r.authorization for r in server.records} == {f"Bearer {SECRET}"}
    designer.check_models(builder)
    assert server.total == 6  # a probe is never answered from the response cache
    assert _files_holding(project, SECRET) == []


def test_check_models_names_the_unset_key_before_sending(project: Path, server: FakeOpenAIServer) -> None:
    with pytest.raises(APIKeyError) as info:
        _designer(server.url).check_models(_builder("fast"))
    assert info.value.message == (
        "Model provider 'local' reads its API key from the environment variable DDB_PORT_KEY, which is not "
        "set; model alias 'fast' (column 'text0') needs it."
    )
    assert server.total == 0


def test_check_models_names_a_down_endpoint(project: Path) -> None:
    designer = _designer("http://127.0.0.1:9/v1", api_key=None)
    with pytest.raises(LLMRequestError) as info:
        designer.check_models(_builder("fast"))
    assert info.value.message == (
        "Model check failed for model alias 'fast' (model 'model-fast', provider 'local', "
        "http://127.0.0.1:9/v1/chat/completions): connection refused: nothing listens at 127.0.0.1:9"
    )
    assert isinstance(info.value, DataDesignerGenerationError)


def test_check_models_reports_a_rejected_key_without_showing_it(project: Path, server: FakeOpenAIServer) -> None:
    server.add_fault("401", times=None)
    designer = _designer(server.url, api_key=SECRET)
    with pytest.raises(LLMRequestError) as info:
        designer.check_models(_builder("fast"))
    assert info.value.message.startswith(
        f"Model check failed for model alias 'fast' (model 'model-fast', provider 'local', "
        f"{server.url}/chat/completions): HTTP 401: ")
    assert "Incorrect API key provided: ***" in info.value.message and SECRET not in str(info.value)
    assert server.total == 1


def test_check_models_tries_a_failing_endpoint_max_attempts_times(project: Path, server: FakeOpenAIServer) -> None:
    designer = _designer(server.url, api_key=None)
    server.add_fault("500", times=1)
    with pytest.raises(LLMRequestError, match=r"\): HTTP 500: "):
        designer.check_models(_builder("fast"))
    assert server.total == 1
    server.add_fault("500", times=1)
    designer.check_models(_builder("fast"), max_attempts=2, retry_backoff_seconds=0)
    assert server.total == 3
    with pytest.raises(ConfigError, match="max_attempts must be at least 1"):
        designer.check_models(_builder("fast"), max_attempts=0)


# -- acreate, create(artifact_path=, on_batch_complete=) --------------------------------------------


def test_acreate_lets_the_event_loop_run_meanwhile(project: Path, server: FakeOpenAIServer) -> None:
    designer = _designer(server.url, api_key=None)

    async def main() -> tuple[int, int]:
        ticks = 0
        task = asyncio.create_task(designer.acreate(_builder("fast"), num_records=6, dataset_name="a",
                                                    artifact_path=project / "elsewhere"))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return len((await task).load_dataset()), ticks

    rows, ticks = asyncio.run(main())
    assert rows == 6 and ticks > 1 and server.total == 6
    assert (project / "elsewhere" / "a" / "parquet-files").is_dir() and not (project / "artifacts").exists()


def test_on_batch_complete_gets_each_written_batch(project: Path, server: FakeOpenAIServer) -> None:
    designer = _designer(server.url, api_key=None)
    designer.set_run_config(dd.RunConfig(buffer_size=2))
    written: list[Path] = []
    results = designer.create(_builder("fast"), num_records=5, dataset_name="d", on_batch_complete=written.append)
    assert len(results.load_dataset()) == 5
    assert written == sorted(Path("artifacts/d/parquet-files").glob("batch_*.parquet")) and len(written) == 3


def test_a_failing_on_batch_complete_stops_the_run_as_a_generation_error(project: Path,
                                                                        server: FakeOpenAIServer) -> None:
    designer = _designer(server.url, api_key=None)
    designer.set_run_config(dd.RunConfig(buffer_size=2))

    def upload(path: Path) -> None:
        raise OSError("bucket unreachable")

    with pytest.raises(DataDesignerGenerationError) as info:
        designer.create(_builder("fast"), num_records=6, dataset_name="d", on_batch_complete=upload)
    assert info.value.message == (
        f"on_batch_complete raised OSError for batch 0 of '{Path('artifacts') / 'd'}': bucket unreachable"
    )
    assert server.total == 2  # the first batch only
