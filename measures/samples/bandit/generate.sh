#!/usr/bin/env bash
# Regenerate bandit.json, the Bandit JSON report of the deliberately
# vulnerable sources in src/ (fixture of the bandit-findings measure).
# Bandit 1.9.4 from PyPI, in a throwaway virtual environment.
#
# The report is committed; rerun this when the sources or the Bandit version
# change, then update the expected numbers in tests/e2e/python.rs only if
# they are computed by hand there (they are computed from the report).
set -euo pipefail
cd "$(dirname "$0")"
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "bandit==1.9.4"
# Bandit exits 1 when it finds issues: that is the point here.
"$venv/bin/bandit" -r src -f json -o bandit.json || [ -s bandit.json ]
echo "wrote bandit.json ($("$venv/bin/bandit" --version | head -1))"
