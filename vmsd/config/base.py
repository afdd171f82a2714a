"""What every section of the configuration shares: the base model (frozen, unknown keys
forbidden) and the duration and size types the YAML writes with units."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from vmsd.core.units import (
    DURATION_PATTERN,
    MAX_DURATION_S,
    MAX_TEXT_CHARS,
    SIZE_PATTERN,
    parse_duration_s,
    parse_size_bytes,
)

# The API document's schema for each: exactly what the parser takes (vmsd.core.units).
DurationS = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    WithJsonSchema(
        {
            "description": "seconds, or a duration like 90s, 6h, 30d, 2w",
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_S},
                {"type": "string", "pattern": DURATION_PATTERN, "maxLength": MAX_TEXT_CHARS},
            ],
        }
    ),
]
SizeBytes = Annotated[
    int,
    BeforeValidator(parse_size_bytes),
    WithJsonSchema(
        {
            "description": "bytes, or a size like 500GiB, 2TB",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": SIZE_PATTERN, "maxLength": MAX_TEXT_CHARS},
            ],
        }
    ),
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
