#!/usr/bin/env bash
# Checks the Prometheus alert rules: syntax (promtool check rules), behaviour
# (promtool test rules: every alert fires on a synthetic series), and that every
# alert has a unit test and a runbook entry in the README. Run by `make test-rules`.
set -euo pipefail
cd "$(dirname "$0")/.."

rules=deploy/helm/kairos-auth/files/rules/kairos-auth.rules.yaml
tests=(deploy/rules-tests/*.yaml)

if ! command -v promtool >/dev/null 2>&1; then
  echo "observability-test: promtool not found; install it with: apt-get install -y --no-install-recommends prometheus" >&2
  exit 1
fi

promtool check rules "$rules"
promtool test rules "${tests[@]}"

# Every alert needs a firing test and a runbook anchor that exists in the README.
fail=0
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules"); do
  if ! grep -q "alertname: *$alert\$" "${tests[@]}"; then
    echo "observability-test: alert $alert has no promtool test in deploy/rules-tests/" >&2
    fail=1
  fi
  anchor=$(echo "$alert" | tr 'A-Z' 'a-z')
  if ! grep -q "README.md#$anchor\"" "$rules"; then
    echo "observability-test: alert $alert has no runbook_url ending in README.md#$anchor" >&2
    fail=1
  fi
  if ! grep -q "^### $alert\$" README.md; then
    echo "observability-test: alert $alert has no '### $alert' runbook entry in README.md" >&2
    fail=1
  fi
done
if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "observability-test: rules OK"
