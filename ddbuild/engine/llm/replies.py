"""Turning a chat reply into a column value: code fences, JSON objects, judge rubrics.

Pure functions; each parser returns the value or raises ``ReplyError`` with a message that is
shown to the model in a correction turn (so it says what was wrong, plainly).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ddbuild.engine.llm import schema as jsonschema_subset

if TYPE_CHECKING:
    from ddbuild.config.columns import Score


class ReplyError(ValueError):
    """The reply cannot become a value; the message is fit to send back to the model."""


_FENCE = re.compile(r"```[ \t]*([^\s`]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)

# Fence tags that mean the same language (the tag models actually write -> code_lang family).
_LANG_ALIASES: dict[str, set[str]] = {
    "python": {"python", "py", "python3"},
    "javascript": {"javascript", "js", "node"},
    "typescript": {"typescript", "ts"},
    "go": {"go", "golang"},
    "rust": {"rust", "rs"},
    "ruby": {"ruby", "rb"},
    "kotlin": {"kotlin", "kt"},
    "bash": {"bash", "sh", "shell", "zsh"},
    "cpp": {"cpp", "c++", "cxx"},
    "csharp": {"csharp", "c#", "cs"},
    "sql": {"sql", "sqlite", "postgres", "postgresql", "mysql", "tsql", "bigquery", "ansi"},
}


def _tags_for(code_lang: str) -> set[str]:
    family = code_lang.lower().split(":", 1)[0].strip()
    for name, tags in _LANG_ALIASES.items():
        if family == name or family in tags:
            return tags | {name}
    return {family}


def completion_problem(payload: object) -> str | None:
    """Why ``payload`` is not a usable chat completion, or None.

    The one check for a reply, whether it came from the endpoint or from a cache: a JSON object
    with a non-empty ``choices`` list whose first item is an object with a ``message`` object
    (``content`` a string or null, ``refusal`` a string or null) and a string-or-null
    ``finish_reason``. Anything else is a malformed reply (retried live, a miss from a cache).
    """
    if not isinstance(payload, dict):
        return f"the reply is a JSON {type(payload).__name__}, not an object"
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        return "the reply has no 'choices' list"
    choice = choices[0]
    if not isinstance(choice, dict):
        return "choices[0] is not an object"
    message = choice.get("message")
    if not isinstance(message, dict):
        return "choices[0].message is not an object"
    for name in ("content", "refusal"):
        if message.get(name) is not None and not isinstance(message[name], str):
            return f"choices[0].message.{name} is not a string"
    if choice.get("finish_reason") is not None and not isinstance(choice["finish_reason"], str):
        return "choices[0].finish_reason is not a string"
    usage = payload.get("usage")
    if usage is not None and not isinstance(usage, dict):
        return "usage is not an object"
    return None


def embedding_problem(payload: object) -> str | None:
    """Why ``payload`` is not a usable ``/v1/embeddings`` reply, or None: a JSON object with a
    non-empty ``data`` list of objects, each with an ``embedding`` that is a list of numbers or a
    base64 string (``encoding_format="base64"``) and an integer ``index``."""
    if not isinstance(payload, dict):
        return f"the reply is a JSON {type(payload).__name__}, not an object"
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        return "the reply has no 'data' list"
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            return f"data[{position}] is not an object"
        vector = item.get("embedding")
        numbers = isinstance(vector, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
        if not (numbers or isinstance(vector, str)):
            return f"data[{position}].embedding is neither a list of numbers nor a base64 string"
        if item.get("index") is not None and (not isinstance(item["index"], int) or isinstance(item["index"], bool)):
            return f"data[{position}].index is not an integer"
    usage = payload.get("usage")
    if usage is not None and not isinstance(usage, dict):
        return "usage is not an object"
    return None


REMOTE_VALIDATION_OBJECT = "ddbuild.remote_validation"  # marks a remote validator's reply in the response cache


def validation_problem(payload: object) -> str | None:
    """Why ``payload`` is not a remote validator's reply ``{"data": [{"is_valid": …}, …]}``, or None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        return "the reply has no 'data' list"
    for position, item in enumerate(payload["data"]):
        if not isinstance(item, dict) or not isinstance(item.get("is_valid", False), (bool, type(None))):
            return f"data[{position}] is not an object with a boolean 'is_valid'"
    return None


def response_problem(payload: object) -> str | None:
    """Why a cached response is usable as none of: a chat completion, an embeddings reply, a
    remote validator's reply (as stored: marked with ``REMOTE_VALIDATION_OBJECT``)."""
    if isinstance(payload, dict) and payload.get("object") == REMOTE_VALIDATION_OBJECT:
        return validation_problem(payload)
    if isinstance(payload, dict) and "choices" not in payload and "data" in payload:
        return embedding_problem(payload)
    return completion_problem(payload)


def extract_code(reply: str, code_lang: str) -> str:
    """The first fenced block tagged with ``code_lang`` (or an alias), else the first untagged
    block, else the whole reply stripped."""
    tags = _tags_for(code_lang)
    untagged: str | None = None
    for match in _FENCE.finditer(reply):
        tag = match.group(1).lower()
        if tag in tags:
            return match.group(2).strip("\n").rstrip()
        if not tag and untagged is None:
            untagged = match.group(2).strip("\n").rstrip()
    return untagged if untagged is not None else reply.strip()


def parse_json_reply(reply: str) -> Any:
    """A JSON value from a reply, tolerating a ```json fence around it."""
    text = reply.strip()
    fenced = _FENCE.search(text)
    if fenced and fenced.group(1).lower() in ("", "json") and not text.startswith(("{", "[")):
        text = fenced.group(2).strip()
    elif text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplyError(f"the reply is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def parse_structured(reply: str, schema: dict[str, Any]) -> Any:
    value = parse_json_reply(reply)
    problems = jsonschema_subset.validate(value, schema)
    if problems:
        raise ReplyError("the JSON does not match the schema: " + "; ".join(problems))
    return value


def structured_instructions(schema: dict[str, Any]) -> str:
    """Appended to the user prompt so endpoints that ignore response_format still see the schema."""
    return (
        "\n\nReply with only a JSON object (no prose, no code fence) that conforms to this JSON schema:\n"
        + json.dumps(schema, ensure_ascii=False, sort_keys=True)
    )


def correction_message(problem: str) -> str:
    return (
        f"Your previous reply could not be used: {problem}. "
        "Reply again with only the corrected JSON object."
    )


# -- judge columns -----------------------------------------------------------------------------


def judge_schema(scores: list[Score]) -> dict[str, Any]:
    """The JSON schema of a judge reply: ``{score_name: {"reasoning": str, "score": option}}``."""
    properties = {
        score.name: {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "score": {"enum": list(score.options.keys())},
            },
            "required": ["reasoning", "score"],
        }
        for score in scores
    }
    return {"type": "object", "properties": properties, "required": [s.name for s in scores]}


def judge_rubric(scores: list[Score]) -> str:
    """The rubric appended to a judge prompt."""
    lines = ["", "", "Judge the content above with these rubrics."]
    for score in scores:
        lines.append(f"\n{score.name}: {score.description}".rstrip())
        for option, meaning in score.options.items():
            lines.append(f"  - {option}: {meaning}")
    lines.append(
        "\nFor each rubric give a short reasoning and then the score, which must be one of the listed options."
    )
    return "\n".join(lines)


def parse_judge(reply: str, scores: list[Score], schema: dict[str, Any]) -> dict[str, Any]:
    value = parse_json_reply(reply)
    if isinstance(value, dict):
        # Models often quote integer options ("4" for 4): map a reply back onto the option key.
        for score in scores:
            entry = value.get(score.name)
            if isinstance(entry, dict) and "score" in entry:
                by_text = {str(k): k for k in score.options}
                if entry["score"] not in score.options and str(entry["score"]) in by_text:
                    entry["score"] = by_text[str(entry["score"])]
    problems = jsonschema_subset.validate(value, schema)
    if problems:
        raise ReplyError("the JSON does not match the schema: " + "; ".join(problems))
    return {s.name: {"score": value[s.name]["score"], "reasoning": value[s.name]["reasoning"]} for s in scores}
