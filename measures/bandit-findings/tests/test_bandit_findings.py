"""Unit tests of bandit-findings, run natively (tests/e2e/python.rs runs them
too): ``PYTHONPATH=sdk/python:measures/bandit-findings python -m unittest
discover -s measures/bandit-findings/tests``.

Expected numbers are written by hand from the documents below, or counted
from the committed report by a plain walk here (not by the measure)."""

from __future__ import annotations

import json
import os
import tempfile
import unittest
from pathlib import Path

import smm_sdk
from smm_sdk import InputError

import bandit_findings
from bandit_findings import BanditFindings, summarize

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "measures/samples/bandit/bandit.json"


def result(test_id="B602", sev="HIGH", conf="HIGH", filename="a.py", line=3, code=None):
    code = code if code is not None else f"{line} subprocess.call(x, shell=True)\n"
    return {
        "code": code,
        "filename": filename,
        "issue_confidence": conf,
        "issue_severity": sev,
        "issue_text": "subprocess call with shell=True identified",
        "line_number": line,
        "line_range": [line],
        "test_id": test_id,
        "test_name": "t",
    }


def collect_doc(doc) -> smm_sdk.Measurement:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bandit.json")
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return smm_sdk.run(BanditFindings, {"path": path})


class SampleTest(unittest.TestCase):
    def test_the_committed_report(self):
        doc = json.loads(SAMPLE.read_text())
        m = smm_sdk.run(BanditFindings, {"path": str(SAMPLE)})
        d = json.loads(m.details)
        # Counted here by a plain walk of the report.
        self.assertEqual(m.value, len(doc["results"]))
        severities = [r["issue_severity"] for r in doc["results"]]
        for word in ("HIGH", "MEDIUM", "LOW"):
            self.assertEqual(d["by_severity"][word.lower()], severities.count(word))
            self.assertEqual(d["by_severity"][word.lower()], doc["metrics"]["_totals"][f"SEVERITY.{word}"])
        self.assertEqual(d["by_severity"]["critical"], 0)
        ids = [r["test_id"] for r in doc["results"]]
        self.assertEqual(d["tests"], len(set(ids)))
        self.assertEqual(d["by_test"], {i: ids.count(i) for i in set(ids)})
        self.assertEqual(d["errors"], len(doc["errors"]))
        self.assertEqual(d["totals"], doc["metrics"]["_totals"])
        self.assertEqual(len(d["findings"]), len(doc["results"]))
        # By hand (measures/samples/bandit/src): 16 issues, two B602 in
        # orders.py, legacy.py unparsable, one `# nosec` line.
        self.assertEqual(m.value, 16)
        self.assertEqual(d["by_test"]["B602"], 2)
        self.assertEqual(d["error_files"], ["src/shop/legacy.py"])
        self.assertEqual(d["files"], 4)
        self.assertEqual(d["files_with_results"], 2)
        for f in d["findings"]:
            self.assertTrue(f["fingerprint"].startswith("bandit|B"), f)
        # The hard-coded password is not shown (nor hashed into a readable form).
        self.assertNotIn("hunter2", m.details)


class FingerprintTest(unittest.TestCase):
    def test_a_finding_keeps_its_fingerprint_when_code_moves(self):
        before = summarize({"results": [result(line=3, code="3 subprocess.call(x, shell=True)\n")]})
        after = summarize(
            {"results": [result(line=9, code="8 \n9     subprocess.call(x, shell=True)\n10 \n")]}
        )
        self.assertEqual(before["findings"], after["findings"])
        self.assertEqual(before["findings"][0]["severity"], "high")

    def test_identical_findings_in_one_file_stay_apart(self):
        d = summarize({"results": [result(line=3), result(line=3), result(filename="b.py")]})
        fps = [f["fingerprint"] for f in d["findings"]]
        self.assertEqual(len(set(fps)), 3)
        self.assertTrue(fps[1].endswith("|2"))
        self.assertEqual(fps[0], fps[1][: -len("|2")])

    def test_without_code_the_line_and_text_are_used(self):
        r = result(line=7)
        del r["code"]
        d = summarize({"results": [r]})
        self.assertRegex(d["findings"][0]["fingerprint"], r"^bandit\|B602\|a\.py:7\|[0-9a-f]{16}$")


class EdgeTest(unittest.TestCase):
    def test_an_empty_report_is_zero_with_every_key(self):
        m = collect_doc({"errors": [], "metrics": {"_totals": {}}, "results": []})
        d = json.loads(m.details)
        self.assertEqual(m.value, 0)
        self.assertEqual(d["findings"], [])
        self.assertEqual(set(d["by_severity"]), {"critical", "high", "medium", "low", "info", "unknown"})
        self.assertEqual(d["by_confidence"], {"high": 0, "medium": 0, "low": 0, "undefined": 0})

    def test_unknown_levels_are_unknown_and_undefined(self):
        d = summarize({"results": [result(sev="UNDEFINED", conf="WHATEVER")]})
        self.assertEqual(d["by_severity"]["unknown"], 1)
        self.assertEqual(d["by_confidence"]["undefined"], 1)

    def test_by_test_keeps_the_20_largest(self):
        results = [result(test_id=f"B{i:03d}", line=i) for i in range(30)]
        results += [result(test_id="B029", line=99)]
        d = summarize({"results": results})
        self.assertEqual(d["tests"], 30)
        self.assertEqual(len(d["by_test"]), 20)
        self.assertEqual(d["by_test"]["B029"], 2)
        self.assertNotIn("B025", d["by_test"])  # ties broken by id: B000..B018 kept

    def test_malformed_reports_name_the_file_and_where(self):
        cases = [
            ('{"results": [', r"bandit\.json: .* at line 1 column 14"),
            ("[1, 2]", r"bandit\.json: expected a Bandit JSON report \(an object\), found an array at \$"),
            ({"results": {}}, r"expected an array, found an object at \$\.results$"),
            ({"results": [result(), 3]}, r"expected an object, found a number at \$\.results\[1\]$"),
            (
                {"results": [result(), dict(result(), issue_severity=2)]},
                r"expected a string, found a number at \$\.results\[1\]\.issue_severity$",
            ),
            ({"results": [dict(result(), line_number="3")]}, r"at \$\.results\[0\]\.line_number$"),
            ({"metrics": {"_totals": []}}, r"at \$\.metrics\._totals$"),
            ({"errors": ["x"]}, r"at \$\.errors\[0\]$"),
        ]
        for doc, message in cases:
            with self.subTest(doc=doc):
                with self.assertRaisesRegex(InputError, message) as raised:
                    collect_doc(doc)
                self.assertIn("bandit.json", str(raised.exception))

    def test_a_missing_report_is_an_input_error(self):
        with self.assertRaisesRegex(InputError, "cannot read /nonexistent/bandit.json"):
            smm_sdk.run(BanditFindings, {"path": "/nonexistent/bandit.json"})

    def test_metadata(self):
        m = BanditFindings.describe()
        self.assertEqual((m.id, m.version, m.unit), ("bandit-findings", "1.0.0", "findings"))
        self.assertEqual(BanditFindings.schema()["properties"]["path"]["format"], "path")
        self.assertEqual(bandit_findings.TOP, 20)


if __name__ == "__main__":
    unittest.main()
