#!/usr/bin/env bash
# Entrypoint of the smm container in deploy/docker-compose.yml: wait for
# Elasticsearch and Kibana, install smm's index templates and ILM policy and
# the Kibana dashboards, register the standard measures, bind them to the
# sample reports (as deploy/quickstart.sh does), then run the scheduler.
# Every step is idempotent: a restarted container goes through them again
# and changes nothing that is already there.
#
# Environment: ELASTIC_PASSWORD (required), SMM_HOME (default /var/lib/smm,
# holding smm.toml), SMM_ES_URL, SMM_KIBANA_URL, SMM_CA_FILE,
# SMM_WAIT_SECONDS (default 600), SMM_SAMPLE_INSTANCES (default 1; 0 skips
# the sample instances).
set -euo pipefail

export SMM_HOME="${SMM_HOME:-/var/lib/smm}"
es_url="${SMM_ES_URL:-https://es01:9200}"
kibana_url="${SMM_KIBANA_URL:-http://kibana:5601}"
ca_file="${SMM_CA_FILE:-/certs/ca/ca.crt}"
wait_seconds="${SMM_WAIT_SECONDS:-600}"
measures=/opt/smm/measures
samples=/opt/smm/samples
ready="$SMM_HOME/.ready"

log() { printf 'smm-entrypoint: %s\n' "$*" >&2; }

if [ -z "${ELASTIC_PASSWORD:-}" ]; then
  log "ELASTIC_PASSWORD is not set"
  exit 1
fi
if [ ! -f "$SMM_HOME/smm.toml" ]; then
  log "$SMM_HOME/smm.toml is missing (mount deploy/smm/smm.toml there)"
  exit 1
fi
rm -f "$ready"

# curl with the elastic user's credentials read from stdin, so that the
# password is not on a command line.
curl_elastic() {
  printf 'user = "elastic:%s"\n' "$ELASTIC_PASSWORD" | curl --config - --silent --show-error "$@"
}

# wait_for WHAT COMMAND...: run COMMAND every 5 s until it succeeds, at most
# SMM_WAIT_SECONDS.
wait_for() {
  local what=$1 waited=0
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$waited" -ge "$wait_seconds" ]; then
      log "gave up waiting for $what after ${wait_seconds}s"
      exit 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  log "$what is up"
}

es_ready() {
  curl_elastic --fail --cacert "$ca_file" "$es_url/_cluster/health?wait_for_status=yellow&timeout=5s"
}
kibana_ready() {
  curl_elastic --fail "$kibana_url/api/status" | grep -q '"level":"available"'
}

wait_for "Elasticsearch ($es_url)" es_ready
log "installing the ILM policy, component and index templates"
smm es setup

wait_for "Kibana ($kibana_url)" kibana_ready
log "importing the dashboards into Kibana"
smm kibana import --kibana-url "$kibana_url"

log "registering the standard measures"
smm measure register "$measures"/*.wasm "$measures"/*.toml

exists() { smm instance list | grep -q "^$1 "; }
created=()
create() { # name measure report labels-and-options...
  local name=$1 measure=$2 report=$3
  shift 3
  if ! exists "$name"; then
    smm instance create "$name" --measure "$measure" \
      --config "{\"path\": \"$report\"}" --grant-dir "$samples" "$@"
    created+=("$name")
  fi
}

if [ "${SMM_SAMPLE_INSTANCES:-1}" != 0 ]; then
  log "binding the measures to the sample reports"
  create legacy-c-sast sarif-findings "$samples/flawfinder.sarif" \
    --label team=payments --label service=legacy-billing --label tier=1 \
    --schedule "0 0 * * * *"
  create pricing-unit-tests junit-tests "$samples/pytest-junit.xml" \
    --label team=payments --label service=pricing --label tier=2 \
    --schedule "0 */15 * * * *"
  # Fails on purpose (the report does not exist): its error measurements
  # feed the "[smm] Collection errors" dashboard.
  create gateway-sast sarif-findings "$samples/gateway.sarif" \
    --label team=platform --label service=gateway --label tier=1 \
    --schedule "0 */30 * * * *"
  # Derived measures: their labels scope their inputs; they are recomputed
  # whenever an input in scope is stored.
  exists legacy-billing-sast-grade || smm instance create legacy-billing-sast-grade \
    --measure sast-grade --label service=legacy-billing --label team=payments
  exists pricing-pass-rate-7d || smm instance create pricing-pass-rate-7d \
    --measure test-pass-rate-7d --label service=pricing --label team=payments
  # A first measurement for the instances just created, so that the
  # dashboards have data before the first scheduled run.
  for name in "${created[@]}"; do
    smm run "$name" >/dev/null || log "$name: the first run stored an error measurement"
  done
fi
smm instance list

touch "$ready"
log "starting the scheduler"
exec smm serve
