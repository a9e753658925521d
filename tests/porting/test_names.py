"""Every public name of Data Designer 0.9.7's ``data_designer.config`` (and ``.interface``) is in
``ddbuild.config`` (``ddbuild.interface``): supported with Data Designer's fields and defaults, or
a placeholder that says "not supported by ddbuild yet: <name>" when used -- never AttributeError.

``dd_0_9_7_config_names.json`` holds the facts (names, enum values, fields and their defaults),
written by ``make_name_facts.py`` run against data-designer-config 0.9.7.
"""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

import ddbuild
import ddbuild.config as dd
import ddbuild.interface as ddi
from ddbuild.errors import NotSupportedError

HERE = Path(__file__).parent
FACTS = json.loads((HERE / "dd_0_9_7_config_names.json").read_text())["names"]

# The 90 names, split as ddbuild stands today (the issue that follows #13 fills in the rest).
NOT_SUPPORTED = {
    "AgentRolloutSeedSource", "AudioContext",
    "DataDesignerScriptParams", "ImageColumnConfig",
    "ImageInferenceParams", "LocalStdioMCPProvider", "MCPProvider",
    "ModalityContext", "SchedulingMetadata",
    "SchedulingMetadataError", "VideoContext",
}
SUPPORTED = set(FACTS) - NOT_SUPPORTED

# Where a supported name differs from Data Designer on purpose: (name, field) -> why.
DEVIATIONS = {
    **{(n, "sampler_type"): "the column carries the sampler type; Data Designer's file spelling is "
       "translated (config/ddformat.py)" for n, f in FACTS.items()
       if f["kind"] == "model" and n.endswith("SamplerParams") and n in SUPPORTED},
    ("UniformDistribution", "params"): "numbers kept inline (keys); params= accepted, .params readable",
    ("UniformDistribution", "low"): "inline", ("UniformDistribution", "high"): "inline",
    ("ManualDistribution", "params"): "numbers kept inline (keys); params= accepted, .params readable",
    ("ManualDistribution", "values"): "inline", ("ManualDistribution", "weights"): "inline",
    ("IndexRange", "selection_type"): "discriminator; not written to Data Designer's files",
    ("PartitionBlock", "selection_type"): "discriminator; not written to Data Designer's files",
    ("DataFrameSeedSource", "df"): "the frame is held, not a field: it is hashed by content",
    ("DataDesignerConfig", "seed"): "ddbuild's random seed (written only when not 0)",
    ("DataDesignerConfig", "columns"): "empty by default", ("DataDesignerConfig", "model_configs"): "[] for None",
    ("DataDesignerConfig", "processors"): "[] for None",
    ("LLMCodeColumnConfig", "code_lang"): "defaults to python where Data Designer requires it",
    ("ModelConfig", "provider"): "optional: None means the only provider",
    ("ModelProvider", "endpoint"): "required in effect (validated)", ("ModelProvider", "extra_headers"): "{} for None",
    ("SamplerColumnConfig", "params"): "optional for samplers without required parameters",
    ("Score", "description"): "optional",
    ("RunConfig", "max_conversation_correction_steps"): "ddbuild's default 2 (Data Designer 0)",
    ("RunConfig", "shutdown_error_window"): "ddbuild's default 20 (Data Designer 10)",
    ("RunConfig", "max_retries"): "ddbuild's retries", ("RunConfig", "retry_max_wait"): "ddbuild's retries",
}


def _json(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def test_the_namespace_has_exactly_data_designers_90_names() -> None:
    assert len(FACTS) == 90
    assert sorted(dd.__all__) == sorted(FACTS)
    assert len(SUPPORTED) == 79 and len(NOT_SUPPORTED) == 11
    assert set(dd.SUPPORTED) == SUPPORTED and set(dd.NOT_SUPPORTED) == NOT_SUPPORTED


@pytest.mark.parametrize("name", sorted(NOT_SUPPORTED))
def test_a_name_ddbuild_does_not_run_imports_and_refuses_when_used(name: str) -> None:
    placeholder = getattr(dd, name)
    assert placeholder.__name__ == name
    expected = f"not supported by ddbuild yet: {name}."
    with pytest.raises(NotSupportedError, match=f"^{re.escape(expected)} ddbuild has no "):
        placeholder(name="x")
    with pytest.raises(NotSupportedError, match=re.escape(expected)):
        placeholder.model_validate  # noqa: B018 -- reading any attribute is using it
    assert getattr(ddbuild, name) is placeholder  # import ddbuild as dd gives the same


def test_the_refusal_says_what_is_missing_and_where_to_read_more() -> None:
    with pytest.raises(NotSupportedError) as caught:
        dd.AgentRolloutSeedSource(path="rollouts")
    assert str(caught.value) == (
        "not supported by ddbuild yet: AgentRolloutSeedSource. ddbuild has no agent-rollout seed sources yet; "
        "see docs/porting.md for what a ported Data Designer project can use."
    )
    assert caught.value.exit_code == 2


def test_a_placeholder_exception_name_is_valid_in_an_except_clause() -> None:
    try:
        raise ValueError("x")
    except dd.SchedulingMetadataError:  # a ported handler: valid, catches nothing else
        pytest.fail("caught a ValueError")
    except ValueError:
        pass


@pytest.mark.parametrize("name", sorted(n for n in SUPPORTED if FACTS[n]["kind"] == "enum"))
def test_a_supported_enum_has_data_designers_values(name: str) -> None:
    assert {m.value for m in getattr(dd, name)} == set(FACTS[name]["values"])


@pytest.mark.parametrize("name", sorted(n for n in SUPPORTED if FACTS[n]["kind"] == "model"))
def test_a_supported_model_has_data_designers_fields_and_defaults(name: str) -> None:
    ours = getattr(dd, name).model_fields
    for field, default in FACTS[name]["fields"].items():
        if (name, field) in DEVIATIONS:
            continue
        assert field in ours, f"{name}.{field} is missing"
        info = ours[field]
        required = info.default is PydanticUndefined and info.default_factory is None
        mine = "<required>" if required else _json(info.get_default(call_default_factory=True))
        assert mine == default, f"{name}.{field}: ddbuild {mine!r}, Data Designer {default!r}"
    extra = {f for f in ours if f not in FACTS[name]["fields"] and (name, f) not in DEVIATIONS}
    assert not extra, f"{name} has fields Data Designer lacks: {sorted(extra)}"


def test_the_other_supported_names_are_what_data_designer_has() -> None:
    assert dd.get_library_version() == ddbuild.__version__
    assert callable(dd.custom_column_generator)
    assert isinstance(dd.DataDesignerConfigBuilder(), dd.DataDesignerConfigBuilder)


def test_distributions_take_data_designers_params_spelling() -> None:
    uniform = dd.UniformDistribution(params=dd.UniformDistributionParams(low=0.2, high=0.8))
    assert uniform == dd.UniformDistribution(low=0.2, high=0.8)
    assert uniform.params == dd.UniformDistributionParams(low=0.2, high=0.8)
    manual = dd.ManualDistribution(params=dd.ManualDistributionParams(values=[0.1, 0.9], weights=[1, 3]))
    assert manual.weights == [0.25, 0.75]  # normalised, as Data Designer does


def test_unknown_names_are_attribute_errors_as_for_any_module() -> None:
    with pytest.raises(AttributeError, match="module 'ddbuild.config' has no attribute 'Nope'"):
        dd.Nope  # noqa: B018


def test_the_interface_namespace() -> None:
    from ddbuild.interface import (
        CompositeWorkflow,
        CompositeWorkflowResults,
        DataDesigner,
        DataDesignerWorkflowError,
        DatasetCreationResults,
        ResumeMode,
    )

    assert DataDesigner is ddbuild.DataDesigner and ResumeMode is dd.ResumeMode
    assert CompositeWorkflow is ddbuild.Workflow and CompositeWorkflowResults is ddbuild.WorkflowResults
    assert DatasetCreationResults is ddbuild.DatasetCreationResults
    assert DataDesignerWorkflowError is ddbuild.DataDesignerWorkflowError
    for name in ddi.__all__:
        getattr(ddi, name)
    with pytest.raises(NotSupportedError, match=r"^not supported by ddbuild yet: WorkflowMetadata\. "):
        ddi.WorkflowMetadata()
