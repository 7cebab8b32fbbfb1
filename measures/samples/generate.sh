#!/usr/bin/env bash
# Regenerate the sample reports from the sources in src/ by running the real
# tools (from PyPI). The reports are committed so the quick start needs no
# Python; rerun this when the sources or tool versions change.
set -euo pipefail
cd "$(dirname "$0")"
pip install --quiet "flawfinder==2.0.20" "pytest==9.2.0"
# flawfinder exits 0 with findings; --sarif writes SARIF 2.1.0 to stdout.
(cd src && flawfinder --sarif legacy_copy.c) > flawfinder.sarif
# pytest exits 1 because some tests fail on purpose.
(cd src && python -m pytest -q -p no:cacheprovider --junitxml=../pytest-junit.xml test_pricing.py) || true
echo "wrote flawfinder.sarif and pytest-junit.xml"
