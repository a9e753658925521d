"""Writes dd_0_9_7_config_names.json: facts about data_designer.config 0.9.7's public names
(kind, enum values, model fields with their JSON defaults, "<required>" when a field has none).

Run with Data Designer installed (``pip install data-designer-config==0.9.7``):
``python make_name_facts.py > dd_0_9_7_config_names.json``. Not a test; the file it wrote is.
"""

import enum
import json
import sys

import data_designer.config as dd
from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def as_json(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [as_json(x) for x in value]
    if isinstance(value, dict):
        return {str(k): as_json(x) for k, x in value.items()}
    return value


def fact(obj):
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return {"kind": "enum", "values": [m.value for m in obj]}
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        fields = {}
        for name, info in obj.model_fields.items():
            required = info.default is PydanticUndefined and info.default_factory is None
            fields[name] = "<required>" if required else as_json(info.get_default(call_default_factory=True))
        return {"kind": "model", "fields": fields}
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return {"kind": "exception"}
    return {"kind": "class" if isinstance(obj, type) else "function"}


names = {name: fact(getattr(dd, name)) for name in dd.__all__}
json.dump({"data_designer_config_version": "0.9.7", "names": names}, sys.stdout, indent=1, sort_keys=True)
