#!/usr/bin/env bash
# Installs what the local suite and the tests need, skipping what is already there:
# PostgreSQL (apt-get), Java and Maven if missing, uv and the Python workspace, the ZooKeeper and
# Kafka jars (Maven), buf (npm) and grpcurl (Go). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIB=$ROOT/.helicase/lib
BIN=$ROOT/.helicase/bin
mkdir -p "$LIB" "$BIN"
step() { printf '==> %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v go >/dev/null || missing+=(golang-go)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  step "system packages present"
fi

if ! command -v uv >/dev/null; then
  step "pip install uv"
  python3.11 -m pip install --quiet uv || python3 -m pip install --quiet uv
fi
step "uv sync (Python workspace)"
uv sync --quiet --python 3.11

for component in zookeeper kafka; do
  if ! ls "$LIB/$component"/*.jar >/dev/null 2>&1; then
    step "maven: $component jars"
    mvn -q -B -f "deploy/local/$component/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIB/$component" </dev/null
  else
    step "$component jars present"
  fi
done

if [ ! -x node_modules/.bin/buf ]; then
  step "npm: @bufbuild/buf"
  npm ci --silent --no-audit --no-fund </dev/null
else
  step "buf present"
fi

if [ ! -x "$BIN/grpcurl" ]; then
  step "go install grpcurl"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3 </dev/null
else
  step "grpcurl present"
fi
step "bootstrap done"
