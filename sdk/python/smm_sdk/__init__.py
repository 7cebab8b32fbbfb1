"""Guest SDK for smm direct measures written in Python.

A measure is a subclass of :class:`Measure` with a :class:`Metadata`, a
configuration type (a dataclass, whose JSON Schema is derived by
:mod:`smm_sdk.schema`) and a ``collect`` method returning a
:class:`Measurement` or raising :class:`ConfigError`, :class:`InputError`
or :class:`InternalError`::

    from dataclasses import dataclass
    import smm_sdk
    from smm_sdk import Kind, Measure, Measurement, Metadata, Scale

    @dataclass
    class Config:
        path: smm_sdk.Path
        \"\"\"Path of the report, inside a directory granted to the instance.\"\"\"

    class LineCount(Measure):
        metadata = Metadata(
            id="line-count", version="1.0.0", name="Line count",
            description="Lines of a text file.", kind=Kind.COUNTING,
            unit="lines", scale=Scale.RATIO, output="value: lines",
        )
        Config = Config

        def collect(self, config: Config) -> Measurement:
            text = smm_sdk.read_input(config.path)
            return Measurement(value=text.count(b"\\n"))

``python -m smm_sdk build <dir> --module <module> -o measure.wasm`` turns
the module into a component of ``sdk/wit/measure.wit`` (see
``sdk/python/README.md``). Outside a component the same classes run in
ordinary unit tests: call ``MyMeasure().collect(Config(...))``, or
:func:`run` with a JSON configuration as the engine would.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from typing import Any, BinaryIO

from . import findings, schema
from .errors import ConfigError, InputError, InternalError, MeasureError
from .schema import Path

__all__ = [
    "ConfigError",
    "InputError",
    "InternalError",
    "Kind",
    "Measure",
    "MeasureError",
    "Measurement",
    "Metadata",
    "Path",
    "ReportConfig",
    "Scale",
    "export",
    "findings",
    "open_input",
    "read_input",
    "read_json",
    "run",
    "schema",
]

__version__ = "0.1.0"


class Scale(str, enum.Enum):
    """Measurement scale (OMG SMM): which comparisons and arithmetic make sense."""

    NOMINAL = "nominal"
    ORDINAL = "ordinal"
    INTERVAL = "interval"
    RATIO = "ratio"


class Kind(str, enum.Enum):
    """SMM kind of a plugin-implemented measure."""

    DIRECT = "direct"
    COUNTING = "counting"
    GRADE = "grade"
    RANKING = "ranking"


@dataclass(frozen=True)
class Metadata:
    """What a measure says about itself. The configuration schema is not
    part of it: the SDK derives it from :attr:`Measure.Config` (or takes
    :attr:`Measure.config_schema`)."""

    id: str
    """kebab-case identifier, stable across versions."""
    version: str
    """Semantic version; bump it whenever results may change."""
    name: str
    description: str
    kind: Kind
    unit: str
    scale: Scale
    output: str
    """What one measurement holds (value and breakdown)."""


@dataclass
class Measurement:
    """One measurement: a numeric ``value`` and/or a ``text`` value, an
    optional breakdown ``details`` (a dict, serialized by the SDK, or a JSON
    object already serialized as ``str``) and an optional ``observed_at``
    (milliseconds since the Unix epoch; the engine uses the collection time
    when absent)."""

    value: float | None = None
    text: str | None = None
    details: dict | str | None = None
    observed_at: int | None = None

    def with_details(self, details: dict | str) -> "Measurement":
        """A copy with ``details`` attached."""
        return dataclasses.replace(self, details=details)


@dataclass
class ReportConfig:
    """The configuration of a measure that reads one report file."""

    path: Path
    """Path of the report, inside a directory granted to the instance.
    Relative paths are taken from the first granted directory."""


class Measure:
    """A direct measure. Subclass it, set :attr:`metadata` and
    :attr:`Config` (or :attr:`config_schema`), implement :meth:`collect`.

    The engine calls ``metadata`` once at registration (the SDK computes it
    when the component is built) and ``collect`` once per measurement, each
    time in a fresh, sandboxed instance.
    """

    #: What the measure says about itself (a :class:`Metadata`).
    metadata: Metadata

    #: The configuration dataclass; its JSON Schema is derived by
    #: :func:`smm_sdk.schema.schema_of`, and ``collect`` receives an
    #: instance of it. ``None``: ``collect`` receives the parsed JSON.
    Config: type | None = None

    #: A JSON Schema written by hand (a dict), used instead of the derived
    #: one when set.
    config_schema: dict | None = None

    def collect(self, config: Any) -> Measurement:
        """Take one measurement. Raise :class:`ConfigError`,
        :class:`InputError` or :class:`InternalError` for a failure the
        measure understands."""
        raise NotImplementedError

    # -- used by the SDK (and by tests) ---------------------------------

    @classmethod
    def describe(cls) -> Metadata:
        """The measure's :class:`Metadata` (``metadata`` may also be a
        method returning it)."""
        m = cls.metadata
        if callable(m) and not isinstance(m, Metadata):
            m = m()
        if not isinstance(m, Metadata):
            raise TypeError(f"{cls.__name__}.metadata must be a smm_sdk.Metadata")
        return m

    @classmethod
    def schema(cls) -> dict:
        """The configuration JSON Schema the catalogue receives."""
        if cls.config_schema is not None:
            return cls.config_schema
        if cls.Config is not None:
            return schema.schema_of(cls.Config)
        return {"$schema": schema.DIALECT, "type": "object"}

    @classmethod
    def parse_config(cls, config: str) -> Any:
        """Parse a configuration document the way the engine hands it over."""
        try:
            document = json.loads(config)
        except ValueError as e:
            raise ConfigError(f"the configuration is not JSON: {e}") from None
        if cls.Config is None:
            return document
        return schema.parse(cls.Config, document)


def export(cls: type) -> type:
    """Mark ``cls`` as the measure a module exports (needed only when a
    module defines more than one :class:`Measure` subclass)."""
    cls.__smm_export__ = True
    return cls


def run(measure: type, config: str | dict) -> Measurement:
    """Parse ``config`` and collect, as a component would (for tests
    outside a component)."""
    if not isinstance(config, str):
        config = json.dumps(config)
    return measure().collect(measure.parse_config(config))


def _os_reason(e: OSError) -> str:
    return e.strerror or str(e)


def read_input(path: str) -> bytes:
    """Read a whole file through the capabilities granted to the instance,
    with an :class:`InputError` naming the path when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {_os_reason(e)}") from None


def open_input(path: str) -> BinaryIO:
    """Open a file for reading (binary) through the capabilities granted to
    the instance, with an :class:`InputError` naming the path when it
    cannot be opened."""
    try:
        return open(path, "rb")
    except OSError as e:
        raise InputError(f"cannot read {path}: {_os_reason(e)}") from None


def read_json(path: str) -> Any:
    """Read and parse a JSON file; an :class:`InputError` names the path and,
    for malformed JSON, the line and column."""
    data = read_input(path)
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
