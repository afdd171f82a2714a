"""A JSON object from untrusted bytes, read strictly: the bodies MediaMTX and `vmsd hook` send.

Stricter than `json.loads(bytes)`, which guesses UTF-16/32 from the first bytes, lets raw
UTF-8-encoded surrogates through (`surrogatepass`), keeps the last of duplicated keys and takes
NaN and Infinity. A duplicated key is the one that matters: two readers of one body must not
see different values ({"path": "a", "path": "b"}). Every failure is a ValueError.
"""

from __future__ import annotations

import json
from typing import Any


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder, built once: this runs for every MediaMTX auth request (measured: no slower than
# json.loads on these small bodies).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def load_json(body: bytes) -> Any:
    """The body's JSON value; ValueError (never another type) when it is not strict JSON."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except RecursionError as err:  # nested deeper than the interpreter's recursion limit
        raise ValueError("body is nested too deeply") from err
    except UnicodeDecodeError as err:
        raise ValueError("body is not UTF-8") from err
    except json.JSONDecodeError as err:
        raise ValueError("body is not JSON") from err


def load_json_object(body: bytes) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    return data
