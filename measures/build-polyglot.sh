#!/usr/bin/env bash
# Build the standard measures written in Python (bandit-findings) and
# JavaScript (eslint-findings) into DIR, by default
# target/wasm32-wasip2/wasm beside the Rust ones, where
# `smm measure install-standard` looks for them.
#
#     measures/build-polyglot.sh [DIR]
#
# Toolchains, pinned by the SDKs and installed on first use from the
# registries: componentize-py (PyPI) into .venv at the root of the clone
# (PYTHON may name an interpreter that already has the SDK and
# componentize-py), componentize-js (npm) by `npm ci` in sdk/js. Needs
# python3 with venv, node >= 20 and npm. About a minute the first time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/target/wasm32-wasip2/wasm}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [ -z "${PYTHON:-}" ]; then
  if [ ! -x "$root/.venv/bin/python" ]; then
    python3 -m venv "$root/.venv"
    "$root/.venv/bin/pip" install --quiet --disable-pip-version-check -e "$root/sdk/python"
  fi
  PYTHON="$root/.venv/bin/python"
fi
echo "building bandit-findings (Python)" >&2
PYTHONPATH="$root/sdk/python${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m smm_sdk build \
  "$root/measures/bandit-findings" --module bandit_findings --wit "$root/sdk/wit" \
  -o "$out/bandit_findings.wasm" >&2

[ -d "$root/sdk/js/node_modules" ] || (cd "$root/sdk/js" && npm ci --no-audit --no-fund >&2)
echo "building eslint-findings (JavaScript)" >&2
node "$root/sdk/js/build.mjs" "$root/measures/eslint-findings/src/index.js" \
  -o "$out/eslint_findings.wasm" >&2

echo "$out/bandit_findings.wasm"
echo "$out/eslint_findings.wasm"
