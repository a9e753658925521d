"""Data Designer's exception names exist in the modules Data Designer has them, with its
hierarchy, and ddbuild's own errors are instances of the ones that mean the same (exit codes
stay on ddbuild's classes)."""

from __future__ import annotations

import importlib

import pytest

import ddbuild.errors as errors

# module (Data Designer's, with ddbuild for data_designer) -> names it exports
MODULES = {
    "ddbuild.errors": ["DataDesignerError"],
    "ddbuild.config.errors": ["BuilderConfigurationError", "BuilderSerializationError", "InvalidColumnTypeError",
                              "InvalidConfigError", "InvalidFilePathError", "InvalidFileFormatError"],
    "ddbuild.config.utils.errors": ["UserJinjaTemplateSyntaxError", "InvalidEnumValueError",
                                    "InvalidTypeUnionError", "InvalidDiscriminatorFieldError",
                                    "DatasetSampleDisplayError"],
    "ddbuild.interface.errors": ["DataDesignerProfilingError", "DataDesignerGenerationError",
                                 "DataDesignerWorkflowError", "DataDesignerEarlyShutdownError",
                                 "InvalidBufferValueError"],
    "ddbuild.engine.errors": ["UnknownProviderError", "NoModelProvidersError", "SecretResolutionError",
                              "DatasetGenerationError", "ConfigCompilationError", "DAGCircularDependencyError"],
}
# ddbuild's class -> Data Designer's names it is an instance of
OURS = {
    "ConfigError": {"InvalidConfigError", "BuilderConfigurationError"},
    "NotSupportedError": {"InvalidConfigError", "BuilderConfigurationError"},
    "SeedError": {"InvalidConfigError", "InvalidFilePathError"},
    "ModelConfigError": {"InvalidConfigError", "UnknownProviderError", "NoModelProvidersError"},
    "APIKeyError": {"InvalidConfigError", "UnknownProviderError", "SecretResolutionError"},
    "WorkflowError": {"InvalidConfigError", "DataDesignerWorkflowError"},
    "TargetError": {"DataDesignerWorkflowError"},
    "TemplateError": {"UserJinjaTemplateSyntaxError"},
    "GenerationError": {"DataDesignerGenerationError", "DatasetGenerationError"},
    "EarlyShutdownError": {"DataDesignerEarlyShutdownError", "DataDesignerGenerationError"},
    "ResumeError": {"DataDesignerWorkflowError"},
    "StagesFailed": {"DataDesignerWorkflowError"},
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_data_designers_names_import_from_the_same_modules(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in MODULES[module]:
        cls = getattr(loaded, name)
        assert cls is getattr(errors, name) and issubclass(cls, errors.DataDesignerError), name
    assert issubclass(errors.DataDesignerEarlyShutdownError, errors.DataDesignerGenerationError)


@pytest.mark.parametrize("ours", sorted(OURS))
def test_ddbuilds_errors_are_data_designers_names_with_exit_codes_of_their_own(ours: str) -> None:
    cls = getattr(errors, ours)
    assert issubclass(cls, errors.DDBuildError) and issubclass(cls, errors.DataDesignerError)
    for name in OURS[ours]:
        assert issubclass(cls, getattr(errors, name)), f"{ours} is not a {name}"
    assert cls.exit_code == (2 if issubclass(cls, (errors.ConfigError, errors.TemplateError)) else 1)


def test_every_ddbuild_error_is_a_data_designer_error() -> None:
    for name in dir(errors):
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.DDBuildError):
            assert issubclass(value, errors.DataDesignerError), name
    assert not hasattr(errors.DataDesignerError, "exit_code")  # exit codes stay on ddbuild's classes
