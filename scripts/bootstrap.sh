#!/usr/bin/env bash
# Installs what the local suite and the tests need, skipping whatever is already there:
# PostgreSQL (and Java, Maven if missing) from apt, uv and the Python workspace, the ZooKeeper and
# Kafka jars (Maven), buf (npm, repo-local node_modules), grpcurl and api-linter (Go, into
# .helicase/bin).
# Idempotent and non-interactive (works as root with CI=true and no stdin); one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIB=$ROOT/.helicase/lib
BIN=$ROOT/.helicase/bin
GRPCURL_VERSION=v1.9.3
export PATH="$HOME/.local/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$LIB" "$BIN"

step() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

# --- system packages (apt-get update only when something is missing) -------------------------
missing=()
have_postgres || missing+=(postgresql)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v go >/dev/null || missing+=(golang-go)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  as_root apt-get update -qq </dev/null
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  # Debian's package creates and may start a "main" cluster on 5432, the port `make up` wants.
  # The devstack runs its own cluster, so park that one (only the one this run just installed).
  if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver cluster _port status _rest; do
      if [ "$status" = online ]; then as_root pg_ctlcluster "$ver" "$cluster" stop || true; fi
      if [ -f "/etc/postgresql/$ver/$cluster/start.conf" ]; then
        echo manual | as_root tee "/etc/postgresql/$ver/$cluster/start.conf" >/dev/null
      fi
    done
  fi
else
  step "system packages present (postgresql, java, maven, go, npm)"
fi

# --- the loopback HPC cluster of the tests (sshd, munge, one-node SLURM; never started here) ---
hpc_missing=()
[ -x /usr/sbin/sshd ] || hpc_missing+=(openssh-server)
command -v ssh >/dev/null || hpc_missing+=(openssh-client)
[ -x /usr/sbin/munged ] || hpc_missing+=(munge)
[ -x /usr/sbin/slurmctld ] || hpc_missing+=(slurmctld)
[ -x /usr/sbin/slurmd ] || hpc_missing+=(slurmd)
command -v sbatch >/dev/null || hpc_missing+=(slurm-client)
if [ ${#hpc_missing[@]} -gt 0 ]; then
  step "apt-get install ${hpc_missing[*]}"
  as_root apt-get update -qq </dev/null
  # Their packages would start system daemons (munge, slurmctld, slurmd, sshd); the harness runs
  # its own on free ports, so a policy-rc.d (the one Docker images carry, or a temporary one)
  # keeps the package scripts from starting them.
  policy=/usr/sbin/policy-rc.d
  if [ -e "$policy" ]; then
    as_root apt-get install -y -qq --no-install-recommends "${hpc_missing[@]}" </dev/null
  else
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    status=0
    as_root apt-get install -y -qq --no-install-recommends "${hpc_missing[@]}" </dev/null || status=$?
    as_root rm -f "$policy"
    [ "$status" = 0 ] || exit "$status"
  fi
else
  step "hpc packages present (openssh-server, munge, slurmctld, slurmd, slurm-client)"
fi

# --- Python ------------------------------------------------------------------------------------
if ! command -v uv >/dev/null; then
  step "pip install uv"
  python3 -m pip install --quiet --user uv </dev/null 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages uv </dev/null
fi
# pip puts uv in ~/.local/bin, which a new shell may not have on its PATH: link it where one
# does (when this user may), so `uv run ...` in the docs works in the next terminal too.
if ! PATH=/usr/local/bin:/usr/bin:/bin command -v uv >/dev/null; then
  if as_root ln -sf "$(command -v uv)" /usr/local/bin/uv 2>/dev/null; then
    step "uv linked into /usr/local/bin"
  else
    step "uv is in $(dirname "$(command -v uv)"): add it to PATH (or use the make targets)"
  fi
fi
step "uv sync (Python workspace, compiled to bytecode)"
# Compiled once here: every service, test suite and CLI run imports these packages, and where
# PYTHONDONTWRITEBYTECODE is set (as on some CI machines) Python would otherwise compile them
# from source at every start (about 2 s of CPU per service start).
uv sync --quiet --compile-bytecode </dev/null
uv run --quiet python -m compileall -q -j 0 libs services bench scripts >/dev/null

# --- ZooKeeper and Kafka jars (re-resolved when their pom changes) ------------------------------
for component in zookeeper kafka; do
  pom="deploy/local/$component/pom.xml"
  dest="$LIB/$component"
  stamp=$(sha256sum "$pom" | cut -d' ' -f1)
  if compgen -G "$dest/*.jar" >/dev/null && [ "$(cat "$dest/.pom.sha256" 2>/dev/null)" = "$stamp" ]; then
    step "$component jars present"
  else
    step "maven: $component jars -> ${dest#"$ROOT"/}"
    rm -rf "$dest"
    # Maven's output only matters when it fails (with -q it still prints stray colour codes).
    if ! out=$(mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$dest" 2>&1 </dev/null); then
      printf '%s\n' "$out" >&2
      exit 1
    fi
    echo "$stamp" >"$dest/.pom.sha256"
  fi
done

# --- the Apache Helix benchmark harness (bench/helix; rebuilt when its pom or sources change) ----
helix_stamp=$(cat bench/helix/pom.xml $(find bench/helix/src -type f | sort) | sha256sum | cut -d' ' -f1)
if [ -f bench/helix/target/helix-bench.jar ] && [ "$(cat bench/helix/target/.stamp 2>/dev/null)" = "$helix_stamp" ]; then
  step "helix bench harness present"
else
  step "maven: helix bench harness -> bench/helix/target"
  rm -rf bench/helix/target # copy-dependencies never removes a jar the pom no longer names
  if ! out=$(mvn -q -B -f bench/helix/pom.xml package 2>&1 </dev/null); then
    printf '%s\n' "$out" >&2
    exit 1
  fi
  echo "$helix_stamp" >bench/helix/target/.stamp
fi

# --- buf, protoc-gen-es, Connect, tsx (npm, pinned by package-lock.json; again when it changes) --
npm_stamp=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -x node_modules/.bin/buf ] && [ "$(cat node_modules/.lock.sha256 2>/dev/null)" = "$npm_stamp" ]; then
  step "npm packages present"
else
  step "npm ci (buf, protoc-gen-es, Connect, tsx)"
  npm ci --silent --no-audit --no-fund </dev/null
  echo "$npm_stamp" >node_modules/.lock.sha256
fi

# --- grpcurl (Go) -----------------------------------------------------------------------------
if [ -x "$BIN/grpcurl" ]; then
  step "grpcurl present"
else
  step "go install grpcurl@$GRPCURL_VERSION -> .helicase/bin"
  GOBIN="$BIN" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" </dev/null
fi
# --- ops tools (Go, into .helicase/bin): kustomize renders deploy/k8s; protoc-gen-go and
# protoc-gen-go-grpc are buf's local plugins for the Go client (clients/buf.gen.yaml) ---------
go_tool() { # go_tool NAME MODULE VERSION: installs when missing or of another version
  local name=$1 module=$2 version=$3
  if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.$name.version" 2>/dev/null)" = "$version" ]; then
    step "$name present"
  else
    step "go install $name@$version -> .helicase/bin"
    GOBIN="$BIN" go install "$module@$version" </dev/null
    echo "$version" >"$BIN/.$name.version"
  fi
}
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 v5.7.1
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go v1.36.12
go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2
# api-linter (Google's AIP checks, `make lint`). Installed through a throwaway module: `go install
# module@version` also asks the proxy for the module's version list (to report deprecations),
# which a proxy that serves pinned versions only refuses.
API_LINTER_VERSION=v1.72.0
if [ -x "$BIN/api-linter" ] && [ "$(cat "$BIN/.api-linter.version" 2>/dev/null)" = "$API_LINTER_VERSION" ]; then
  step "api-linter present"
else
  step "go install api-linter@$API_LINTER_VERSION -> .helicase/bin"
  tools=$(mktemp -d)
  if ! out=$(cd "$tools" && go mod init helicase-tools 2>&1 &&
    go get "github.com/googleapis/api-linter/cmd/api-linter@$API_LINTER_VERSION" 2>&1 &&
    GOBIN="$BIN" go install github.com/googleapis/api-linter/cmd/api-linter 2>&1 </dev/null); then
    printf '%s\n' "$out" >&2
    rm -rf "$tools"
    exit 1
  fi
  rm -rf "$tools"
  echo "$API_LINTER_VERSION" >"$BIN/.api-linter.version"
fi
step "go mod download (clients/go)"
(cd clients/go && go mod download </dev/null)
# --- the composer (web/): npm packages, Chromium for its browser tests, web/dist ----------------
if ! command -v chromium >/dev/null; then
  step "apt-get install chromium (browser tests of the composer)"
  as_root apt-get update -qq </dev/null
  as_root apt-get install -y -qq --no-install-recommends chromium </dev/null
fi
web_lock=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ "$(cat web/node_modules/.package-lock.sha256 2>/dev/null)" = "$web_lock" ]; then
  step "web npm packages present"
else
  step "npm ci (web/: React, React Flow, Connect-ES, Vite, Vitest, playwright-core)"
  (cd web && npm ci --silent --no-audit --no-fund </dev/null)
  echo "$web_lock" >web/node_modules/.package-lock.sha256
fi
if [ -f web/dist/index.html ] && [ -z "$(find web/src web/index.html web/vite.config.ts web/package-lock.json \
  -newer web/dist/index.html -print -quit)" ]; then
  step "web/dist up to date"
else
  step "vite build -> web/dist"
  (cd web && npm run --silent build -- --logLevel warn </dev/null)
fi
step "bootstrap done"
