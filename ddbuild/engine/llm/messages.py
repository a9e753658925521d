"""Chat messages beyond plain text: image parts of a prompt, reasoning in a reply, and traces.

Pure functions (one file read for an image given by path). What they make, in Data Designer's
shapes:

    image part       {"type": "image_url", "image_url": {"url": <http(s) URL or data: URI>}}
    reasoning        the reply message's ``reasoning_content`` (stripped; None when empty), else
                     the text of its ``<think>…</think>`` blocks
    trace message    {"role": "system" | "user", "content": [parts]}
                     {"role": "assistant", "content": [{"type": "text", "text": …}],
                      "reasoning_content": str | None}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ddbuild.config.enums import ImageFormat, ModalityDataType, TraceType
from ddbuild.config.models import ImageContext


class ImageError(ValueError):
    """A row's image value cannot be sent; the message names the value (the caller the column)."""


_THINK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_DATA_URI = re.compile(r"^data:([^;,]+);base64,", re.IGNORECASE)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_FORMAT_MIME = {ImageFormat.JPG: "image/jpeg", ImageFormat.JPEG: "image/jpeg"}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _values(raw: Any) -> list[Any]:
    """One image value or several: a list, or a string holding a JSON list."""
    if isinstance(raw, str):
        if raw.lstrip().startswith("["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                return [raw]
            if isinstance(parsed, list):
                return parsed
        return [raw]
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if hasattr(raw, "tolist"):  # a numpy array read back from parquet
        listed = raw.tolist()
        return listed if isinstance(listed, list) else [listed]
    return [raw]


def _mime_of(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _format_mime(image_format: ImageFormat) -> str:
    return _FORMAT_MIME.get(image_format, f"image/{image_format.value}")


def _data_uri(mime: str, payload: str) -> str:
    return f"data:{mime};base64,{payload}"


def image_url(context: ImageContext, value: Any, base_dir: Path) -> str:
    """The URL sent for one image value of ``context`` (see ImageContext)."""
    if not isinstance(value, str) or not value.strip():
        raise ImageError(f"the image value {_shown(value)} is not a non-empty string")
    text = value.strip()
    if context.data_type == ModalityDataType.URL:
        return text
    if context.data_type == ModalityDataType.BASE64:
        assert context.image_format is not None, "ImageContext checks image_format for base64"
        if _DATA_URI.match(text):
            return text
        return _data_uri(_format_mime(context.image_format), _checked_base64(text))
    if _DATA_URI.match(text) or text.startswith(("http://", "https://")):
        return text
    path = Path(text) if Path(text).is_absolute() else base_dir / text
    if len(text) < 4096 and path.is_file():
        # Not read: a stage's key holds this value (the path), never the file's bytes, so an image
        # edited in place would be served stale from the cache. A hit must equal a rebuild.
        raise ImageError(f"the image value {text!r} names a file; ddbuild does not read images by path (a "
                         "stage's key cannot see the file's contents, so an edited image would be served "
                         "from the cache): give it as a URL or as base64 data")
    payload = _checked_base64(text)
    if context.image_format is not None:
        return _data_uri(_format_mime(context.image_format), payload)
    mime = _mime_of(base64.b64decode(payload[:64] + "=" * (-len(payload[:64]) % 4)))
    if mime is None:
        raise ImageError(f"the image value {_shown(value)} is not a URL or base64 image "
                         "data of a known format; set data_type / image_format")
    return _data_uri(mime, payload)


def _checked_base64(text: str) -> str:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"the image value {_shown(text)} is not a URL or valid base64 "
                         "data") from None
    return text


def image_parts(contexts: Sequence[ImageContext], row: dict[str, Any], base_dir: Path) -> list[dict[str, Any]]:
    """The ``image_url`` content parts for a row, in context order then value order."""
    parts: list[dict[str, Any]] = []
    for context in contexts:
        if context.column_name not in row:
            raise ImageError(f"multi_modal_context names column '{context.column_name}', which the row does not have")
        raw = row[context.column_name]
        if raw is None:
            continue  # no image in this row: the prompt goes alone
        for value in _values(raw):
            parts.append({"type": "image_url", "image_url": {"url": image_url(context, value, base_dir)}})
    return parts


# -- replies --------------------------------------------------------------------------------------


def split_think(content: str) -> tuple[str, str | None]:
    """``content`` without its ``<think>`` blocks, and their text (None when there is none)."""
    found = [m.group(1).strip() for m in _THINK.finditer(content)]
    if not found:
        return content, None
    rest = _THINK.sub("", content).strip()
    return rest, "\n\n".join(t for t in found if t) or None


def reasoning_of(message: dict[str, Any]) -> str | None:
    """The endpoint's ``reasoning_content`` of a reply message, stripped; None when absent or empty."""
    value = message.get("reasoning_content")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


# -- traces ----------------------------------------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    return list(content) if isinstance(content, list) else [{"type": "text", "text": str(content)}]


def trace_message(message: dict[str, Any]) -> dict[str, Any]:
    """A request message (system / user / assistant) as a trace entry."""
    entry: dict[str, Any] = {"role": message["role"], "content": _parts(message["content"])}
    if message["role"] == "assistant":
        entry["reasoning_content"] = message.get("reasoning_content")
    return entry


def reply_message(message: dict[str, Any]) -> dict[str, Any]:
    """A reply message as a trace entry: its text and the endpoint's reasoning."""
    return {"role": "assistant", "content": _parts(message.get("content") or ""),
            "reasoning_content": reasoning_of(message)}


def trace(kind: TraceType, entries: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The ``<name>__trace`` value: every message (ALL_MESSAGES) or the last assistant one."""
    if kind == TraceType.ALL_MESSAGES:
        return entries
    if kind == TraceType.LAST_MESSAGE:
        last = next((e for e in reversed(entries) if e["role"] == "assistant"), None)
        return [last] if last is not None else []
    return None
