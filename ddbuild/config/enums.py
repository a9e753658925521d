"""Data Designer's enums that name features beyond ddbuild's own column and sampler types.

They exist with Data Designer 0.9.7's values so that ported code and configs that spell them
load; which of the features they select ddbuild runs is decided in ``ddbuild.config.support``.
"""

from __future__ import annotations

from enum import Enum


class DataDesignerColumnType(str, Enum):
    """Every column type Data Designer knows (ddbuild runs the ones in ``columns.ColumnType``)."""

    LLM_JUDGE = "llm-judge"
    SEED_DATASET = "seed-dataset"
    EMBEDDING = "embedding"
    VALIDATION = "validation"
    EXPRESSION = "expression"
    IMAGE = "image"
    LLM_STRUCTURED = "llm-structured"
    LLM_CODE = "llm-code"
    SAMPLER = "sampler"
    LLM_TEXT = "llm-text"
    CUSTOM = "custom"


class TraceType(str, Enum):
    """What an LLM column keeps of its conversation in ``<name>__trace`` (``NONE``: no trace column)."""

    NONE = "none"
    LAST_MESSAGE = "last_message"
    ALL_MESSAGES = "all_messages"


class CodeLang(str, Enum):
    BASH = "bash"
    C = "c"
    COBOL = "cobol"
    CPP = "cpp"
    CSHARP = "csharp"
    GO = "go"
    JAVA = "java"
    JAVASCRIPT = "javascript"
    KOTLIN = "kotlin"
    PYTHON = "python"
    RUBY = "ruby"
    RUST = "rust"
    SCALA = "scala"
    SWIFT = "swift"
    TYPESCRIPT = "typescript"
    SQL_SQLITE = "sql:sqlite"
    SQL_TSQL = "sql:tsql"
    SQL_BIGQUERY = "sql:bigquery"
    SQL_MYSQL = "sql:mysql"
    SQL_POSTGRES = "sql:postgres"
    SQL_ANSI = "sql:ansi"


class GenerationType(str, Enum):
    CHAT_COMPLETION = "chat-completion"
    EMBEDDING = "embedding"
    IMAGE = "image"


class Modality(str, Enum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class ModalityDataType(str, Enum):
    URL = "url"
    BASE64 = "base64"


class ImageFormat(str, Enum):
    PNG = "png"
    JPG = "jpg"
    JPEG = "jpeg"
    GIF = "gif"
    WEBP = "webp"


class AudioFormat(str, Enum):
    MP3 = "mp3"
    WAV = "wav"


class VideoFormat(str, Enum):
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"


class InfoType(str, Enum):
    SAMPLERS = "samplers"
    MODEL_CONFIGS = "model_configs"
    MODEL_PROVIDERS = "model_providers"


class JinjaRenderingEngine(str, Enum):
    """ddbuild renders every template in its own bounded sandbox (``ddbuild.sandbox``)."""

    NATIVE = "native"
    SECURE = "secure"


class ValidatorType(str, Enum):
    CODE = "code"
    LOCAL_CALLABLE = "local_callable"
    REMOTE = "remote"


class AgentRolloutFormat(str, Enum):
    ATIF = "atif"
    CLAUDE_CODE = "claude_code"
    CODEX = "codex"
    HERMES_AGENT = "hermes_agent"
    PI_CODING_AGENT = "pi_coding_agent"
