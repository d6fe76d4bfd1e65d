"""Checks a parsed AWS JSON 1.1 response body against an output shape of the Rekognition service model.

The model is the extract in crates/reko-protocol/model/rekognition.json (botocore's service-2.json, trimmed): operations
name their input and output shapes, and each shape has a type (structure, list, map, string, integer, long, float,
boolean, timestamp, blob) with, where the model gives them, members and required (structures), member (lists), key and
value (maps), enum, pattern, and min/max (a numeric range for numbers, a length for strings, lists, maps and blobs).

`check_output(model, operation, body)` returns the violations of one success body as human-readable strings, each
starting with the JSON path of the offending value ("$.FaceDetails[0].Confidence: 100.5 is above the maximum 100"):
an unknown structure member, a missing required member, a wrong JSON type (integers must be integral JSON numbers,
timestamps numbers of epoch seconds, blobs base64 strings), a string outside its enum or pattern, a number outside its
range, a string, list, map or blob outside its length bounds, and null anywhere (AWS omits a member instead).
"""
import base64
import binascii
import json
import math
import pathlib
import re
from typing import NamedTuple

MODEL_PATH = pathlib.Path(__file__).resolve().parents[2] / "crates" / "reko-protocol" / "model" / "rekognition.json"


def load_model(path=MODEL_PATH) -> dict:
    with open(path) as f:
        return json.load(f)


class Violation(NamedTuple):
    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}"


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_PATTERNS = {}


def _pattern(source: str):
    """The model's pattern as a Python regex, or None where Python cannot read it (Java's \\p{L} classes)."""
    if source not in _PATTERNS:
        try:
            _PATTERNS[source] = re.compile(source)
        except re.error:
            _PATTERNS[source] = None
    return _PATTERNS[source]


def _length(path, shape, size, what, out):
    if "min" in shape and size < shape["min"]:
        out.append(Violation(path, f"{what} {size} is below the minimum {shape['min']}"))
    if "max" in shape and size > shape["max"]:
        out.append(Violation(path, f"{what} {size} is above the maximum {shape['max']}"))


def _range(path, shape, value, out):
    if "min" in shape and value < shape["min"]:
        out.append(Violation(path, f"{value!r} is below the minimum {shape['min']}"))
    if "max" in shape and value > shape["max"]:
        out.append(Violation(path, f"{value!r} is above the maximum {shape['max']}"))


def check_shape(model: dict, shape_name: str, value, path: str = "$") -> list:
    """The violations (as Violation tuples) of `value` against the shape named `shape_name`."""
    out = []
    _check(model["shapes"], shape_name, value, path, out)
    return out


def _check(shapes, name, value, path, out):
    shape = shapes[name]
    kind = shape["type"]
    jtype = _json_type(value)
    if value is None:
        out.append(Violation(path, f"null where {kind} {name} is expected (AWS omits the member instead)"))
        return
    if kind == "structure":
        if jtype != "object":
            out.append(Violation(path, f"{jtype} where structure {name} (object) is expected"))
            return
        members = shape.get("members", {})
        for key, item in value.items():
            if key not in members:
                out.append(Violation(f"{path}.{key}", f"unknown member of {name} (known: {', '.join(sorted(members)) or 'none'})"))
            else:
                _check(shapes, members[key]["shape"], item, f"{path}.{key}", out)
        for key in shape.get("required", []):
            if key not in value:
                out.append(Violation(f"{path}.{key}", f"required member of {name} is missing"))
    elif kind == "list":
        if jtype != "array":
            out.append(Violation(path, f"{jtype} where list {name} (array) is expected"))
            return
        _length(path, shape, len(value), "list length", out)
        for i, item in enumerate(value):
            _check(shapes, shape["member"]["shape"], item, f"{path}[{i}]", out)
    elif kind == "map":
        if jtype != "object":
            out.append(Violation(path, f"{jtype} where map {name} (object) is expected"))
            return
        _length(path, shape, len(value), "map size", out)
        for key, item in value.items():
            _check(shapes, shape["key"]["shape"], key, f"{path}<key {key!r}>", out)
            _check(shapes, shape["value"]["shape"], item, f"{path}[{key!r}]", out)
    elif kind == "string":
        if jtype != "string":
            out.append(Violation(path, f"{jtype} {value!r} where string {name} is expected"))
            return
        if "enum" in shape and value not in shape["enum"]:
            out.append(Violation(path, f"{value!r} is not in the enum {name} ({', '.join(shape['enum'])})"))
        _length(path, shape, len(value), "string length", out)
        pattern = _pattern(shape["pattern"]) if "pattern" in shape else None
        if pattern is not None and not pattern.fullmatch(value):
            out.append(Violation(path, f"{value!r} does not match the pattern of {name}: {shape['pattern']}"))
    elif kind in ("integer", "long"):
        if jtype != "number":
            out.append(Violation(path, f"{jtype} {value!r} where {kind} {name} is expected"))
        elif not isinstance(value, int):
            out.append(Violation(path, f"{value!r} is not an integral JSON number ({kind} {name})"))
        else:
            _range(path, shape, value, out)
    elif kind in ("float", "double"):
        if jtype != "number":
            out.append(Violation(path, f"{jtype} {value!r} where {kind} {name} is expected"))
        elif not math.isfinite(value):
            out.append(Violation(path, f"{value!r} is not a finite number ({kind} {name})"))
        else:
            _range(path, shape, value, out)
    elif kind == "boolean":
        if jtype != "boolean":
            out.append(Violation(path, f"{jtype} {value!r} where boolean {name} is expected"))
    elif kind == "timestamp":
        # AWS JSON 1.1 writes timestamps as JSON numbers of seconds since the epoch.
        if jtype != "number":
            out.append(Violation(path, f"{jtype} {value!r} where timestamp {name} (epoch seconds, a number) is expected"))
        elif not math.isfinite(value) or value < 0:
            out.append(Violation(path, f"{value!r} is not a valid epoch-seconds timestamp ({name})"))
    elif kind == "blob":
        if jtype != "string":
            out.append(Violation(path, f"{jtype} where blob {name} (a base64 string) is expected"))
            return
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.append(Violation(path, f"not valid base64 (blob {name})"))
            return
        _length(path, shape, len(data), "blob size", out)
    else:
        out.append(Violation(path, f"the model's shape {name} has a type this checker does not know: {kind}"))


def check_output(model: dict, operation: str, body) -> list:
    """The violations (as strings with JSON paths) of a success response body of `operation`.

    `body` is the parsed JSON (a dict), or the raw bytes/str of the HTTP body."""
    if operation not in model["operations"]:
        return [f"$: {operation} is not an operation of the model"]
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or "{}")
        except ValueError as error:
            return [f"$: the body is not JSON ({error})"]
    output = model["operations"][operation].get("output")
    if output is None:
        return [] if body == {} else [f"$: {operation} has no output shape but the body is {body!r}"]
    return [str(v) for v in check_shape(model, output, body)]


def generic_path(violation: str) -> str:
    """A violation with list indexes turned into [*], to group the same violation across elements and responses."""
    return re.sub(r"\[\d+\]", "[*]", violation)
