"""``bandit-findings``: the number of issues in a Bandit JSON report
(``bandit -r <dir> -f json``), written in Python with the smm Python SDK.

Value: the report's ``results`` (issues Bandit reported; lines marked
``# nosec`` are not among them, Bandit counts them in ``metrics._totals``).

Details:

- ``results``: the value;
- ``by_severity``: issues per severity in the engine's scale (``critical``,
  ``high``, ``medium``, ``low``, ``info``, ``unknown``, every key present):
  Bandit's ``HIGH``/``MEDIUM``/``LOW`` map onto ``high``/``medium``/``low``,
  its ``UNDEFINED`` (or anything else) onto ``unknown``;
- ``by_confidence``: issues per Bandit confidence (``high``, ``medium``,
  ``low``, ``undefined``, every key present);
- ``by_severity_confidence``: ``{severity: {confidence: n}}`` over Bandit's
  own levels (lowercase), only the pairs that occur;
- ``by_test``: issues per test id (``B602``...), the 20 largest (ties
  broken by id), and ``tests``: how many distinct test ids;
- ``files``: files Bandit lists in ``metrics`` (a file it could not parse
  included), ``files_with_results``: distinct files with an issue;
- ``totals``: ``metrics._totals`` as Bandit wrote it (``loc``, ``nosec``,
  ``skipped_tests``, ``SEVERITY.*``, ``CONFIDENCE.*``), numbers only;
- ``errors``: how many files Bandit could not scan, ``error_files``: the
  first 20 of them;
- ``generated_at``: the report's own timestamp (or null);
- ``findings``: one per fingerprint, for the engine's finding lifecycle
  (the engine takes the list out of the stored details).

A finding's severity is as in ``by_severity``; its fingerprint is
``bandit|<test id>|<file>|<h>`` where ``<h>`` is the FNV-1a 64 hash
(16 hex digits) of the flagged source lines (those of ``line_range``, read
from ``code``, each stripped of indentation, joined by ``\\n``), so that a
finding keeps its fingerprint when code above it moves; the n-th (n >= 2)
identical finding in one file gets ``|<n>`` appended. A result without
``code`` falls back to ``bandit|<test id>|<file>:<line>|<hash of issue_text>``.
Neither the issue text nor the code (which may hold a secret, B105) is in
the details.

A malformed report is an ``input`` error naming the file and where: the
line and column of a JSON syntax error, or the JSON path of a value of the
wrong type (``$.results[3].issue_severity``).
"""

from __future__ import annotations

import json

import smm_sdk
from smm_sdk import InputError, Kind, Measure, Measurement, Metadata, ReportConfig, Scale
from smm_sdk.findings import Finding, Findings, fnv1a, severity

#: How many keys a breakdown keeps.
TOP = 20

CONFIDENCES = ("high", "medium", "low", "undefined")


class Malformed(Exception):
    """A value of the wrong shape, at a JSON path."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{message} at {path}")


def _type_name(value) -> str:
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
    return "an object"


def _get(obj: dict, key: str, kind: type | tuple, path: str, default=None):
    """``obj[key]`` if it has the type ``kind`` (absent or null: ``default``)."""
    value = obj.get(key)
    if value is None:
        return default
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _tuple(kind))
    if not ok:
        want = {str: "a string", int: "an integer", list: "an array", dict: "an object"}
        expected = " or ".join(want.get(k, k.__name__) for k in _tuple(kind))
        raise Malformed(f"{path}.{key}", f"expected {expected}, found {_type_name(value)}")
    return value


def _tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def top(counts: dict[str, int], n: int = TOP) -> dict[str, int]:
    """The ``n`` largest counts (ties broken by key), sorted by key."""
    kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return dict(sorted(kept))


def flagged_code(code: str, line_range: list) -> str:
    """The lines of ``line_range`` in Bandit's ``code`` excerpt (each line
    is ``<number> <text>``), stripped of indentation, joined by ``\\n``."""
    wanted = {n for n in line_range if isinstance(n, int)}
    lines = []
    for raw in code.splitlines():
        number, _, text = raw.partition(" ")
        if number.isdigit() and int(number) in wanted:
            lines.append(text.strip())
    return "\n".join(lines)


def summarize(doc) -> dict:
    """The details (findings included) of a parsed Bandit report; raises
    :class:`Malformed` naming the JSON path of what does not fit."""
    if not isinstance(doc, dict):
        raise Malformed("$", f"expected a Bandit JSON report (an object), found {_type_name(doc)}")
    results = _get(doc, "results", list, "$", [])
    errors = _get(doc, "errors", list, "$", [])
    metrics = _get(doc, "metrics", dict, "$", {})
    generated_at = _get(doc, "generated_at", str, "$")

    by_severity = {s: 0 for s in smm_sdk.findings.SEVERITIES}
    by_confidence = {c: 0 for c in CONFIDENCES}
    matrix: dict[str, dict[str, int]] = {}
    by_test: dict[str, int] = {}
    files_with_results: set[str] = set()
    findings = Findings()
    seen: dict[str, int] = {}
    for i, r in enumerate(results):
        path = f"$.results[{i}]"
        if not isinstance(r, dict):
            raise Malformed(path, f"expected an object, found {_type_name(r)}")
        test_id = _get(r, "test_id", str, path, "")
        filename = _get(r, "filename", str, path, "")
        sev_word = _get(r, "issue_severity", str, path, "UNDEFINED")
        conf_word = _get(r, "issue_confidence", str, path, "UNDEFINED")
        line = _get(r, "line_number", int, path)
        line_range = _get(r, "line_range", list, path, [])
        code = _get(r, "code", str, path)
        text = _get(r, "issue_text", str, path, "")

        sev = severity(sev_word)
        by_severity[sev] += 1
        conf = conf_word.strip().lower()
        by_confidence[conf if conf in by_confidence else "undefined"] += 1
        row = matrix.setdefault(sev_word.strip().lower(), {})
        row[conf] = row.get(conf, 0) + 1
        if test_id:
            by_test[test_id] = by_test.get(test_id, 0) + 1
        if filename:
            files_with_results.add(filename)

        flagged = flagged_code(code, line_range or ([line] if line else [])) if code else ""
        if flagged:
            fingerprint = f"bandit|{test_id}|{filename}|{fnv1a(flagged.encode()):016x}"
        else:
            where = "" if line is None else str(line)
            fingerprint = f"bandit|{test_id}|{filename}:{where}|{fnv1a(text.encode()):016x}"
        n = seen.get(fingerprint, 0) + 1
        seen[fingerprint] = n
        if n > 1:
            fingerprint = f"{fingerprint}|{n}"
        findings.add(Finding(fingerprint, sev))

    error_files = []
    for i, e in enumerate(errors):
        if not isinstance(e, dict):
            raise Malformed(f"$.errors[{i}]", f"expected an object, found {_type_name(e)}")
        name = _get(e, "filename", str, f"$.errors[{i}]", "")
        if name and len(error_files) < TOP:
            error_files.append(name)

    totals_raw = _get(metrics, "_totals", dict, "$.metrics", {})
    totals = {
        k: v
        for k, v in totals_raw.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    files = sum(1 for k in metrics if k != "_totals")

    return {
        "results": len(results),
        "by_severity": by_severity,
        "by_confidence": by_confidence,
        "by_severity_confidence": matrix,
        "by_test": top(by_test),
        "tests": len(by_test),
        "files": files,
        "files_with_results": len(files_with_results),
        "totals": totals,
        "errors": len(errors),
        "error_files": error_files,
        "generated_at": generated_at,
        "findings": findings.to_json(),
    }


class BanditFindings(Measure):
    metadata = Metadata(
        id="bandit-findings",
        version="1.0.0",
        name="Bandit findings",
        description="Number of issues in a Bandit JSON report (bandit -r <dir> -f json).",
        kind=Kind.COUNTING,
        unit="findings",
        scale=Scale.RATIO,
        output=(
            "value: issues reported; details: {results, by_severity: {critical, high, medium, "
            "low, info, unknown}, by_confidence: {high, medium, low, undefined}, "
            "by_severity_confidence, by_test (largest 20), tests, files, files_with_results, "
            "totals (metrics._totals), errors, error_files, generated_at}; findings: one per "
            "fingerprint (test id + file + hash of the flagged code), tracked by the engine's "
            "finding lifecycle"
        ),
    )
    Config = ReportConfig

    def collect(self, config: ReportConfig) -> Measurement:
        doc = smm_sdk.read_json(config.path)
        try:
            details = summarize(doc)
        except Malformed as e:
            raise InputError(f"{config.path}: {e}") from None
        return Measurement(
            value=details["results"],
            details=json.dumps(details, separators=(",", ":")),
        )
