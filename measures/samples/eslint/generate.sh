#!/usr/bin/env bash
# Regenerate the ESLint reports of the eslint-findings measure by running
# the real tool (eslint 10.15.0 from npm, installed in a temporary folder)
# on the sources beside this script with eslint.config.mjs:
# - eslint.json: `eslint -f json src` (problems, fixable ones, a suppressed
#   one, an unused disable directive);
# - eslint-with-parse-error.json: `eslint -f json-with-metadata src broken`
#   (the same plus a file that does not parse: a fatal error).
# The reports are committed as ESLint wrote them: file paths are absolute
# (those of the machine that ran this script), and the json-with-metadata
# report names that folder in `metadata.cwd`. Rerun when the sources or the
# version change.
set -euo pipefail
cd "$(dirname "$0")"
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
(cd "$tool" && npm init -y >/dev/null && npm install --silent --save-exact eslint@10.15.0)
eslint=("$tool/node_modules/.bin/eslint" --config eslint.config.mjs --no-warn-ignored)
# eslint exits 1 when it reports errors: expected here.
"${eslint[@]}" -f json src > eslint.json || test $? -eq 1
"${eslint[@]}" -f json-with-metadata src broken > eslint-with-parse-error.json || test $? -eq 1
echo "wrote eslint.json and eslint-with-parse-error.json (eslint $("${eslint[0]}" --version))"
