"""Unit tests of the Python SDK, run natively:
``cd sdk/python && python -m unittest discover -s tests``
(tests/e2e/python.rs runs them too)."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import types
import unittest
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

import smm_sdk
from smm_sdk import (
    ConfigError,
    InputError,
    InternalError,
    Kind,
    Measure,
    Measurement,
    Metadata,
    Scale,
    _export,
    findings,
    schema,
)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Inner:
    """A nested object."""

    depth: int = 1


@dataclass
class Everything:
    """Every supported annotation."""

    name: str
    """The name.

    Two paragraphs."""
    count: int
    ratio: float = 0.5
    enabled: bool = True
    tags: list[str] = field(default_factory=list)
    maybe: Optional[int] = None
    maybe_too: "str | None" = None
    mode: Literal["fast", "slow"] = "fast"
    colour: Colour = Colour.RED
    report: smm_sdk.Path = "report.json"
    inner: Inner = field(default_factory=Inner)
    limits: dict[str, int] = field(default_factory=dict)
    secret: str = field(default="", metadata={"schema": {"writeOnly": True}})
    described: int = field(default=0, metadata={"description": "From metadata."})
    bounded: Annotated[int, {"minimum": 1}] = 3


WIT = types.SimpleNamespace()


class _Enum(enum.Enum):
    pass


# A stand-in for the generated `wit_world.imports.types`.
@dataclass
class _Metadata:
    id: str
    version: str
    name: str
    description: str
    kind: object
    unit: str
    scale: object
    config_schema: str
    output: str


@dataclass
class _Measurement:
    value: object
    text: object
    details: object
    observed_at: object


@dataclass
class _Err(Exception):
    value: object


def _variant(name):
    return dataclasses.make_dataclass(name, [("value", str)])


WIT.Metadata = _Metadata
WIT.Measurement = _Measurement
WIT.MeasureKind = enum.Enum("MeasureKind", "DIRECT COUNTING GRADE RANKING")
WIT.Scale = enum.Enum("Scale", "NOMINAL ORDINAL INTERVAL RATIO")
WIT.Error_Config = _variant("Error_Config")
WIT.Error_Input = _variant("Error_Input")
WIT.Error_Internal = _variant("Error_Internal")


class Probe(Measure):
    metadata = Metadata(
        id="probe",
        version="1.0.0",
        name="Probe",
        description="d",
        kind=Kind.COUNTING,
        unit="1",
        scale=Scale.RATIO,
        output="o",
    )

    @dataclass
    class Config:
        what: str
        value: float = 0.0

    def collect(self, config):
        if config.what == "config":
            raise ConfigError("bad config")
        if config.what == "input":
            raise InputError("bad input")
        if config.what == "internal":
            raise InternalError("bad luck")
        if config.what == "bug":
            raise KeyError("bug")
        if config.what == "nan-details":
            return Measurement(value=1, details={"x": float("nan")})
        return Measurement(value=config.value, details={"a": [1, 2]}, observed_at=5)


class SchemaTest(unittest.TestCase):
    def test_every_annotation_has_its_schema(self):
        s = schema.schema_of(Everything)
        self.assertEqual(s["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertEqual(s["title"], "Everything")
        self.assertEqual(s["description"], "Every supported annotation.")
        self.assertEqual(s["type"], "object")
        self.assertFalse(s["additionalProperties"])
        self.assertEqual(s["required"], ["name", "count"])
        p = s["properties"]
        self.assertEqual(p["name"], {"description": "The name.\n\nTwo paragraphs.", "type": "string"})
        self.assertEqual(p["count"], {"type": "integer"})
        self.assertEqual(p["ratio"], {"type": "number", "default": 0.5})
        self.assertEqual(p["enabled"], {"type": "boolean", "default": True})
        self.assertEqual(p["tags"], {"type": "array", "items": {"type": "string"}, "default": []})
        self.assertEqual(p["maybe"], {"type": ["integer", "null"], "default": None})
        self.assertEqual(p["maybe_too"], {"type": ["string", "null"], "default": None})
        self.assertEqual(p["mode"], {"enum": ["fast", "slow"], "default": "fast"})
        self.assertEqual(p["colour"], {"enum": ["red", "blue"], "default": "red"})
        self.assertEqual(
            p["report"],
            {"type": "string", "minLength": 1, "format": "path", "default": "report.json"},
        )
        self.assertEqual(p["inner"]["description"], "A nested object.")
        self.assertEqual(p["inner"]["properties"], {"depth": {"type": "integer", "default": 1}})
        self.assertNotIn("default", p["inner"])  # a dataclass default is not JSON
        self.assertEqual(p["limits"]["additionalProperties"], {"type": "integer"})
        self.assertTrue(p["secret"]["writeOnly"])
        self.assertEqual(p["described"]["description"], "From metadata.")
        self.assertEqual(p["bounded"], {"type": "integer", "minimum": 1, "default": 3})
        json.dumps(s)  # JSON all the way down

    def test_the_report_config_marks_its_path(self):
        s = schema.schema_of(smm_sdk.ReportConfig)
        self.assertEqual(s["required"], ["path"])
        self.assertEqual(s["properties"]["path"]["format"], "path")
        self.assertIn("granted", s["properties"]["path"]["description"])

    def test_unsupported_types_are_refused_by_name(self):
        @dataclass
        class Bad:
            when: object

        with self.assertRaisesRegex(TypeError, "Bad.when"):
            schema.schema_of(Bad)
        with self.assertRaisesRegex(TypeError, "dataclass"):
            schema.schema_of(dict)

    def test_parse_fills_defaults_and_converts(self):
        c = schema.parse(
            Everything,
            {"name": "n", "count": 2.0, "colour": "blue", "inner": {"depth": 4}, "tags": ["a"]},
        )
        self.assertEqual(c.count, 2)
        self.assertIsInstance(c.count, int)
        self.assertIs(c.colour, Colour.BLUE)
        self.assertEqual(c.inner, Inner(4))
        self.assertEqual(c.tags, ["a"])
        self.assertEqual(c.ratio, 0.5)
        self.assertEqual(schema.parse(Everything, {"name": "n", "count": 1, "ratio": 2}).ratio, 2.0)

    def test_parse_errors_name_the_field(self):
        cases = [
            ({"count": 1}, "/name: missing"),
            ({"name": 1, "count": 1}, "/name: expected a string, found a number"),
            ({"name": "n", "count": 1, "typo": 1}, "unknown field 'typo'"),
            ({"name": "n", "count": 1, "inner": {"depth": "x"}}, "/inner/depth: expected an integer"),
            ({"name": "n", "count": 1, "tags": ["a", 3]}, "/tags/1: expected a string"),
            ({"name": "n", "count": 1, "mode": "medium"}, "/mode: 'medium' is not one of"),
            ({"name": "n", "count": True}, "/count: expected an integer, found a boolean"),
        ]
        for doc, message in cases:
            with self.subTest(doc=doc):
                with self.assertRaisesRegex(ConfigError, message):
                    schema.parse(Everything, doc)
        with self.assertRaisesRegex(ConfigError, "expected an object"):
            schema.parse(Everything, [1])


class ExportTest(unittest.TestCase):
    def test_metadata_becomes_the_wit_record(self):
        m = _export.wit_metadata(Probe, WIT)
        self.assertEqual(m.id, "probe")
        self.assertIs(m.kind, WIT.MeasureKind.COUNTING)
        self.assertIs(m.scale, WIT.Scale.RATIO)
        s = json.loads(m.config_schema)
        self.assertEqual(s["required"], ["what"])

    def test_collect_becomes_the_wit_result(self):
        out = _export.wit_collect(Probe, '{"what": "ok", "value": 2}', WIT, _Err)
        self.assertEqual(out.value, 2.0)
        self.assertEqual(json.loads(out.details), {"a": [1, 2]})
        self.assertEqual(out.observed_at, 5)
        for what, variant in [
            ("config", WIT.Error_Config),
            ("input", WIT.Error_Input),
            ("internal", WIT.Error_Internal),
        ]:
            with self.subTest(what=what):
                with self.assertRaises(_Err) as raised:
                    _export.wit_collect(Probe, json.dumps({"what": what}), WIT, _Err)
                self.assertIsInstance(raised.exception.value, variant)
        with self.assertRaises(_Err) as raised:
            _export.wit_collect(Probe, '{"what": 1}', WIT, _Err)
        self.assertIsInstance(raised.exception.value, WIT.Error_Config)
        with self.assertRaises(_Err) as raised:
            _export.wit_collect(Probe, '{"what": "nan-details"}', WIT, _Err)
        self.assertIn("not JSON", raised.exception.value.value)
        # A bug is not a WIT error: it propagates (the component traps).
        with self.assertRaises(KeyError):
            _export.wit_collect(Probe, '{"what": "bug"}', WIT, _Err)

    def test_the_exported_measure_is_found(self):
        mod = types.ModuleType("m")
        self.assertRaisesRegex(TypeError, "found: none", _export.find_measure, mod)

        class A(Measure):
            pass

        class B(Measure):
            pass

        A.__module__ = B.__module__ = "m"
        mod.A, mod.B = A, B
        self.assertRaisesRegex(TypeError, "found: A, B", _export.find_measure, mod)
        self.assertIs(_export.find_measure(mod, "B"), B)
        smm_sdk.export(A)
        self.assertIs(_export.find_measure(mod), A)


class InputTest(unittest.TestCase):
    def test_missing_files_and_bad_json_are_input_errors_naming_the_file(self):
        with self.assertRaisesRegex(InputError, "cannot read /nonexistent/r.json: No such file"):
            smm_sdk.read_input("/nonexistent/r.json")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.json")
            with open(path, "w") as f:
                f.write('{"a":\n [1, }')
            with self.assertRaisesRegex(InputError, r"r\.json: .* at line 2 column"):
                smm_sdk.read_json(path)


class FindingsTest(unittest.TestCase):
    def test_hashes_and_bounds_match_the_rust_crate(self):
        # smm_reports::fnv1a and bounded_fingerprint (measures/reports/src/finding.rs).
        self.assertEqual(findings.fnv1a(b""), 0xCBF29CE484222325)
        self.assertEqual(findings.fnv1a(b"a"), 0xAF63DC4C8601EC8C)
        self.assertEqual(findings.bounded_fingerprint("short"), "short")
        long = "é" * 300  # 600 bytes
        bounded = findings.bounded_fingerprint(long)
        self.assertLessEqual(len(bounded.encode()), 512)
        head, tail = bounded.rsplit("#", 1)
        self.assertEqual(len(tail), 16)
        self.assertTrue(long.startswith(head))
        self.assertEqual(bounded, findings.bounded_fingerprint(long))

    def test_one_finding_per_fingerprint_with_the_worst_severity(self):
        fs = findings.Findings()
        fs.add(findings.Finding("a", "low"))
        fs.add(findings.Finding("b", "high", fixable=True, epss=0.1))
        fs.add(findings.Finding("a", "critical", kev=True))
        fs.add(findings.Finding("b", "medium", epss=0.3))
        self.assertEqual(
            fs.to_json(),
            [
                {"fingerprint": "a", "severity": "critical", "kev": True},
                {"fingerprint": "b", "severity": "high", "fixable": True, "epss": 0.3},
            ],
        )
        self.assertEqual(findings.severity("MEDIUM"), "medium")
        self.assertEqual(findings.severity("UNDEFINED"), "unknown")


class RunTest(unittest.TestCase):
    def test_run_parses_and_collects_like_the_engine(self):
        m = smm_sdk.run(Probe, {"what": "ok", "value": 3})
        self.assertEqual(m.value, 3.0)
        with self.assertRaises(ConfigError):
            smm_sdk.run(Probe, "not json")


if __name__ == "__main__":
    unittest.main()
