#!/usr/bin/env bash
# The main job on the embedded store, from a fresh clone: build the standard
# measures (wasm32-wasip2 components) and smm, register the measures, bind
# them to the sample reports in measures/samples/, run them, and print the
# stored measurements. Safe to run again: it reuses what is already there.
#
# Environment: SMM_HOME (default ./.smm) is where the catalogue and the
# measurements are stored.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
fi
echo "==> building the standard measures (wasm32-wasip2) and smm"
cargo build --quiet --profile wasm --target wasm32-wasip2 -p sarif-findings -p junit-tests \
  -p trivy-vulnerabilities -p grype-vulnerabilities -p gitleaks-secrets \
  -p cyclonedx-vulnerabilities -p line-coverage -p code-size \
  -p github-deployments -p github-lead-time -p github-incidents -p git-history \
  -p devlake-deployments
cargo build --quiet -p smm-engine --bin smm

export SMM_HOME="${SMM_HOME:-$PWD/.smm}"
smm=target/debug/smm
samples="$PWD/measures/samples"

echo "==> installing the standard catalogue in $SMM_HOME"
$smm measure install-standard
$smm measure list

exists() { $smm instance list | grep -q "^$1 "; }
create() { # name measure path labels...
  local name=$1 measure=$2 path=$3
  shift 3
  exists "$name" || $smm instance create "$name" --measure "$measure" \
    --config "{\"path\": \"$path\"}" --grant-dir "$samples" "$@"
}
echo "==> creating instances over the sample reports"
create legacy-c-sast sarif-findings "$samples/flawfinder.sarif" \
  --label team=payments --label service=legacy-billing --label tier=1 \
  --schedule "0 0 * * * *"
create pricing-unit-tests junit-tests "$samples/pytest-junit.xml" \
  --label team=payments --label service=pricing --label tier=2 \
  --schedule "0 */15 * * * *"
create pricing-coverage line-coverage "$samples/coverage/coveragepy-cobertura.xml" \
  --label team=payments --label service=pricing --label tier=2 \
  --schedule "0 0 */6 * * *"
# Derived measures: their instances' labels scope their inputs; they are
# recomputed whenever an input in scope is stored.
exists legacy-billing-sast-grade || $smm instance create legacy-billing-sast-grade \
  --measure sast-grade --label service=legacy-billing
exists pricing-pass-rate-7d || $smm instance create pricing-pass-rate-7d \
  --measure test-pass-rate-7d --label service=pricing
$smm instance list

echo "==> running the direct instances now (derived ones follow)"
$smm run legacy-c-sast
$smm run pricing-unit-tests
$smm run pricing-coverage

echo "==> stored measurements (smm query <instance>)"
for i in legacy-c-sast pricing-unit-tests pricing-coverage legacy-billing-sast-grade pricing-pass-rate-7d; do
  $smm query "$i" --limit 3
done
echo "==> run them on their schedules with: SMM_HOME=$SMM_HOME $smm serve"
