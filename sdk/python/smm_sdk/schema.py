"""Configuration schemas derived from dataclasses, and configurations parsed
into them.

The derivation is deliberately small (what measure configurations use):

====================================  =========================================
Python annotation                     JSON Schema (draft 2020-12)
====================================  =========================================
``str``                               ``{"type": "string"}``
``int``                               ``{"type": "integer"}``
``float``                             ``{"type": "number"}``
``bool``                              ``{"type": "boolean"}``
``list[T]``                           ``{"type": "array", "items": <T>}``
``dict[str, T]``                      ``{"type": "object", "additionalProperties": <T>}``
``Optional[T]`` (``T | None``)        ``<T>`` with ``"null"`` added to its ``type``
``Literal["a", "b"]``                 ``{"enum": ["a", "b"]}``
an ``enum.Enum`` subclass             ``{"enum": [<member values>]}``
a nested dataclass                    an object schema, inline
``smm_sdk.Path``                      ``{"type": "string", "minLength": 1, "format": "path"}``
``Annotated[T, {...}]``               ``<T>`` with the dict's keys added
====================================  =========================================

- A field without a default (nor a default factory) is ``required``; a field
  with a JSON-compatible default carries it as ``"default"``.
- Unknown fields are refused: every object has ``"additionalProperties":
  false`` (like ``#[serde(deny_unknown_fields)]`` in the Rust SDK).
- Descriptions: the docstring written on the line(s) right after a field
  (an attribute docstring, as Sphinx reads them), else
  ``field(metadata={"description": ...})``; the class docstring describes
  the object.
- ``field(metadata={"schema": {...}})`` adds keywords to a field's schema,
  e.g. ``{"writeOnly": True}`` for a secret, ``{"minimum": 1}``.
- ``"format": "path"`` (``smm_sdk.Path``, or added by hand) marks a field
  naming a file: at ``smm instance create`` the engine makes it absolute
  (relative to the first granted directory), normalises it and refuses it
  outside every grant; the measure receives the resolved path.

The host validates a configuration against the schema before ``collect``;
:func:`parse` only turns the validated JSON into the dataclass (nested
dataclasses, enums and lists included) and reports anything still wrong as
a :class:`smm_sdk.ConfigError` naming the field.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import textwrap
import types
import typing
from typing import Any

from .errors import ConfigError

#: The JSON Schema dialect of generated schemas.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The ``format`` the engine resolves against grants (``PATH_FORMAT``).
PATH_FORMAT = "path"

#: A configuration field naming a file inside a granted directory.
Path = typing.NewType("Path", str)

_NONE = type(None)


def schema_of(cls: type) -> dict:
    """The JSON Schema (draft 2020-12) of the dataclass ``cls``."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"a configuration type must be a dataclass, not {cls!r}")
    schema = {"$schema": DIALECT, "title": cls.__name__}
    schema.update(_object_schema(cls, depth=0))
    return schema


def _object_schema(cls: type, depth: int) -> dict:
    if depth > 16:
        raise TypeError(f"{cls.__name__}: dataclasses nested too deeply (recursive?)")
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = _attribute_docstrings(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        try:
            prop = _type_schema(hints[f.name], depth)
        except TypeError as e:
            raise TypeError(f"{cls.__name__}.{f.name}: {e}") from None
        description = docs.get(f.name) or f.metadata.get("description")
        if description:
            prop = {"description": description, **prop}
        if f.default is not dataclasses.MISSING:
            if _is_json(f.default):
                prop["default"] = _jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
            if _is_json(value):
                prop["default"] = _jsonable(value)
        else:
            required.append(f.name)
        prop.update(f.metadata.get("schema", {}))
        properties[f.name] = prop
    out: dict[str, Any] = {}
    doc = _class_doc(cls)
    if doc:
        out["description"] = doc
    out["type"] = "object"
    out["properties"] = properties
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _type_schema(tp: Any, depth: int) -> dict:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        base = _type_schema(args[0], depth)
        for extra in args[1:]:
            if isinstance(extra, dict):
                base.update(extra)
        return base
    if tp is Path:
        return {"type": "string", "minLength": 1, "format": PATH_FORMAT}
    if isinstance(tp, typing.NewType):
        return _type_schema(tp.__supertype__, depth)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not _NONE]
        if len(rest) != 1 or len(rest) == len(args):
            raise TypeError(f"only Optional[T] unions are supported, not {tp}")
        return _nullable(_type_schema(rest[0], depth))
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        item = args[0] if args else Any
        return {"type": "array", "items": _type_schema(item, depth)}
    if origin is dict or tp is dict:
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _type_schema(value, depth)}
    if tp is Any:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _object_schema(tp, depth + 1)
    raise TypeError(f"no JSON Schema for {tp!r}")


def _nullable(schema: dict) -> dict:
    schema = dict(schema)
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    t = schema.get("type")
    if isinstance(t, str):
        schema["type"] = [t, "null"]
    elif isinstance(t, list):
        schema["type"] = [*t, "null"]
    elif "enum" not in schema and t is None and schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, enum.Enum)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _class_doc(cls: type) -> str | None:
    doc = cls.__doc__
    # dataclasses write "Name(field: type, ...)" when there is no docstring.
    if not doc or doc.startswith(f"{cls.__name__}("):
        return None
    return inspect.cleandoc(doc)


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """Docstrings written right after annotated fields, read from the
    class's source (empty when the source is not available)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    body = node.body
    for stmt, after in zip(body, body[1:]):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


# ---------------------------------------------------------------- parsing


def parse(cls: type, document: Any) -> Any:
    """Turn a configuration (parsed JSON) into an instance of the dataclass
    ``cls``. Errors are :class:`ConfigError` naming the JSON pointer."""
    return _parse_object(cls, document, "")


def _parse_object(cls: type, value: Any, pointer: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{pointer or '/'}: expected an object, found {_kind(value)}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError(f"{pointer or '/'}: unknown field {unknown[0]!r}")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _parse_value(hints[name], value[name], f"{pointer}/{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"{pointer}/{name}: missing")
    return cls(**kwargs)


def _parse_value(tp: Any, value: Any, pointer: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _parse_value(args[0], value, pointer)
    if isinstance(tp, typing.NewType):
        return _parse_value(tp.__supertype__, value, pointer)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        rest = [a for a in args if a is not _NONE]
        return _parse_value(rest[0], value, pointer)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{pointer}: {value!r} is not one of {list(args)!r}")
        return value
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{pointer}: expected an array, found {_kind(value)}")
        item = args[0] if args else Any
        items = [_parse_value(item, v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return (origin or tp)(items) if (origin or tp) is not list else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{pointer}: expected an object, found {_kind(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: _parse_value(item, v, f"{pointer}/{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{pointer}: expected a boolean, found {_kind(value)}")
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{pointer}: expected an integer, found {_kind(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{pointer}: expected a number, found {_kind(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{pointer}: expected a string, found {_kind(value)}")
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = [m.value for m in tp]
            raise ConfigError(f"{pointer}: {value!r} is not one of {allowed!r}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _parse_object(tp, value, pointer)
    raise ConfigError(f"{pointer}: no parser for {tp!r}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
