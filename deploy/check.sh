#!/usr/bin/env bash
# Offline checks of deploy/, without a Docker engine:
#  1. the shell scripts parse (bash -n);
#  2. docker-compose.yml validates against the Compose Specification schema
#     (check-jsonschema's vendored copy, vendor.compose-spec);
#  3. docker-compose resolves it with deploy/.env.example (services, volumes,
#     depends_on, build context, variable interpolation), refuses it while
#     the passwords are empty, and the shell snippets inside it (the setup
#     script, the healthchecks) parse.
# Needs: check-jsonschema (PyPI: pip install check-jsonschema==0.39.0) and
# docker-compose 1.29 (Debian: apt-get install docker-compose), and python3
# with PyYAML or ruamel.yaml (check-jsonschema brings the latter). Uses
# `docker compose` (v2) as well when that is present.
set -euo pipefail
cd "$(dirname "$0")"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy/check.sh: $1 not found; install it with: $2" >&2
    exit 2
  fi
}
need check-jsonschema "pip install check-jsonschema==0.39.0"
need docker-compose "apt-get install docker-compose"
need python3 "apt-get install python3"

echo "==> shell scripts (bash -n)"
for script in check.sh quickstart.sh smm/entrypoint.sh; do
  bash -n "$script"
done

echo "==> docker-compose.yml against the Compose Specification schema"
check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's/^ELASTIC_PASSWORD=$/ELASTIC_PASSWORD=check-elastic/' \
    -e 's/^KIBANA_PASSWORD=$/KIBANA_PASSWORD=check-kibana/' .env.example >"$tmp/env"

echo "==> docker-compose config (with .env.example and placeholder passwords)"
docker-compose --project-directory . --env-file "$tmp/env" -f docker-compose.yml config >"$tmp/resolved.yml"
if docker compose version >/dev/null 2>&1; then
  docker compose --project-directory . --env-file "$tmp/env" -f docker-compose.yml config --quiet
fi

echo "==> docker-compose refuses empty passwords"
if docker-compose --project-directory . --env-file .env.example -f docker-compose.yml config --quiet 2>"$tmp/err"; then
  echo "deploy/check.sh: docker-compose.yml accepts empty ELASTIC_PASSWORD/KIBANA_PASSWORD" >&2
  exit 1
fi
grep -q "set ELASTIC_PASSWORD in deploy/.env" "$tmp/err"

echo "==> shell snippets inside docker-compose.yml"
python3 - "$tmp/resolved.yml" <<'PY'
import shlex, subprocess, sys

try:  # PyYAML (Debian's python3-yaml, pulled by docker-compose)
    import yaml

    config = yaml.safe_load(open(sys.argv[1]))
except ImportError:  # ruamel.yaml (pulled by check-jsonschema)
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load(open(sys.argv[1]))
services = config["services"]
want = {"setup", "es01", "kibana", "smm"}
if set(services) != want:
    sys.exit(f"services are {sorted(services)}, expected {sorted(want)}")
snippets = []
command = services["setup"]["command"]
argv = shlex.split(command) if isinstance(command, str) else command
if argv[:2] != ["bash", "-c"]:
    sys.exit(f"setup command is not bash -c: {argv[:2]}")
# `$$` is Compose's escape for a literal `$`.
snippets.append(("bash", "setup command", argv[2].replace("$$", "$")))
for name, service in services.items():
    test = service.get("healthcheck", {}).get("test")
    if not test:
        sys.exit(f"{name} has no healthcheck")
    if test[0] == "CMD-SHELL":
        snippets.append(("sh", f"{name} healthcheck", test[1].replace("$$", "$")))
for shell, what, script in snippets:
    result = subprocess.run([shell, "-n"], input=script, text=True, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"{what} does not parse:\n{result.stderr}")
    print(f"    {what}: ok")
for name in ("es01", "kibana", "setup"):
    image = services[name]["image"]
    if not image.endswith(":" + services["es01"]["image"].split(":")[-1]):
        sys.exit(f"{name} runs {image}: Elasticsearch and Kibana must share one version")
PY

echo "deploy/check.sh: all checks passed"
