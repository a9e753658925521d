"""Model configs and up-front validation: field names in errors, secrets kept out, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from ddbuild.config.models import ChatCompletionInferenceParams, ModelConfig, ModelProvider
from ddbuild.engine.llm.client import default_providers
from ddbuild.engine.llm.columns import LLMServices
from ddbuild.errors import ModelConfigError
from tests.llm.helpers import model, provider, text_column


def test_api_key_is_never_dumped_or_shown():
    p = ModelProvider(name="nim", endpoint="https://integrate.api.nvidia.com/v1", api_key="nvapi-SECRET")
    assert "SECRET" not in repr(p) and "SECRET" not in str(p)
    assert "api_key" not in p.model_dump() and "SECRET" not in p.model_dump_json()
    assert p.api_key.get_secret_value() == "nvapi-SECRET"


@pytest.mark.parametrize("endpoint", [None, "", "   "])
def test_provider_without_endpoint_names_the_provider(endpoint):
    kwargs = {} if endpoint is None else {"endpoint": endpoint}
    with pytest.raises(ModelConfigError, match="provider 'vllm' has no endpoint"):
        ModelProvider(name="vllm", **kwargs)


@pytest.mark.parametrize(
    "params, field",
    [({"top_p": 1.5}, "top_p"), ({"temperature": {"low": 0.5, "high": 3}}, "temperature"),
     ({"max_tokens": 0}, "max_tokens"), ({"max_parallel_requests": 0}, "max_parallel_requests"),
     ({"timeout": 0.5}, "timeout"), ({"temprature": 1}, "temprature")],
)
def test_validation_errors_name_the_field(params, field):
    with pytest.raises(ValidationError, match=field):
        ChatCompletionInferenceParams(**params)


def test_distributions_are_typed_from_plain_dicts():
    params = ModelConfig(alias="a", model="m", inference_parameters={"temperature": {"values": [0.1, 0.5], "weights": [1, 3]}})
    assert params.inference_parameters.temperature.distribution_type == "manual"
    assert "max_parallel_requests" in params.model_dump()["inference_parameters"]


def test_unknown_alias_lists_configured_aliases():
    with pytest.raises(ModelConfigError) as info:
        LLMServices.validate([text_column(alias="fsat")], [model("fast"), model("judge")], [provider("http://x/v1")])
    message = str(info.value)
    assert "model_alias 'fsat'" in message and "Did you mean 'fast'?" in message
    assert "Configured aliases: fast, judge" in message


def test_missing_env_var_is_named():
    providers = [provider("http://x/v1", api_key="env:DDBUILD_NO_SUCH_KEY")]
    with pytest.raises(ModelConfigError, match="DDBUILD_NO_SUCH_KEY"):
        LLMServices.validate([text_column()], [model()], providers, environ={})


def test_unknown_provider_is_named():
    with pytest.raises(ModelConfigError, match="provider 'nim'.*Configured providers: local"):
        LLMServices.validate([text_column()], [model(provider_name="nim")], [provider("http://x/v1")])


def test_default_provider_from_openai_environment(tmp_path):
    home = {"DATA_DESIGNER_HOME": str(tmp_path)}
    p, *others = default_providers({**home, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert (p.name, p.endpoint, p.api_key_env_var) == ("openai", "http://127.0.0.1:9/v1", "OPENAI_API_KEY")
    assert [o.name for o in others] == ["nvidia", "openrouter"]  # Data Designer's predefined ones
    assert default_providers(home)[0].endpoint == "https://api.openai.com/v1"
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        LLMServices.validate([text_column()], [model()], None, environ={})


def test_aiohttp_is_not_imported_until_a_request_is_sent():
    code = (
        "import sys, ddbuild.engine.llm.columns as c, ddbuild.config.models;"
        "from ddbuild.engine.llm.cache import MemoryResponseCache;"
        "s = c.LLMServices.create([], [], MemoryResponseCache(), sampling_seed=0, max_retries=0, retry_max_wait=1);"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
