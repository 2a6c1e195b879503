#!/usr/bin/env bash
# govulncheck over the given modules, against an offline vulnerability database.
#
# This machine (and CI) reaches no vulnerability database online, only the Go
# module proxy, so the database is built from the golang.org/x/vulndb module's
# OSV files with its own cmd/indexdb into .cache/vulndb, once (delete the folder,
# or change VULNDB_VERSION, to rebuild). A vulnerability whose code is called
# fails the run unless tools/internal/vulngate/allow.txt lists it; ones only
# imported or required are counted as information.
#
# usage: tools/vulncheck.sh MODULE_DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
cache="$root/.cache"
db="$cache/vulndb"
# govulncheck must be built by the Go that runs it (it type-checks that Go's
# standard library), so each toolchain gets its own binaries. The Go chosen at
# the root (go.work's toolchain line under GOTOOLCHAIN=auto) is pinned for the
# builds below too, which run outside the workspace.
GOTOOLCHAIN=$(go env GOVERSION)
export GOTOOLCHAIN
bin="$cache/bin/$GOTOOLCHAIN"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 MODULE_DIR..." >&2
  exit 2
fi

# The database: a stamp file says which vulndb version it was built from, and
# only a finished build gets one, so an interrupted build is redone.
if [ "$(cat "$db/.version" 2>/dev/null)" != "$VULNDB_VERSION" ]; then
  echo "vulncheck: building the offline vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
  src=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
    echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv folder (download failed?)" >&2
    exit 1
  fi
  rm -rf "$db.tmp"
  mkdir -p "$cache"
  # Run from outside the workspace: indexdb's dependencies are its own module's.
  (cd "$cache" && GOWORK=off GOFLAGS=-mod=mod go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" \
    -vulns "$src/data/osv" -out "$db.tmp")
  echo "$VULNDB_VERSION" >"$db.tmp/.version"
  rm -rf "$db"
  mv "$db.tmp" "$db"
fi

if [ ! -x "$bin/govulncheck" ] || ! "$bin/govulncheck" -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
  echo "vulncheck: installing govulncheck@$GOVULNCHECK_VERSION"
  (cd "$cache" && GOWORK=off GOBIN="$bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION")
fi

# govulncheck's JSON goes through tools/internal/vulngate, which prints the
# called vulnerabilities and fails unless each is in its allow list.
(cd tools && go build -o "$bin/vulngate" ./internal/vulngate)
status=0
for m in "$@"; do
  echo "== govulncheck $m"
  if ! (cd "$m" && "$bin/govulncheck" -db "file://$db" -format json ./...) >"$cache/vulncheck.json"; then
    echo "vulncheck: govulncheck failed in $m" >&2
    status=1
    continue
  fi
  if ! "$bin/vulngate" -allow tools/internal/vulngate/allow.txt <"$cache/vulncheck.json"; then
    status=1
  fi
done
exit $status
