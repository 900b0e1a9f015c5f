#!/usr/bin/env bash
# The whole suite, as CI runs it: provision tools, run every *.test.ts under app, core, workers, cmd, web
# and test, then close with one line "N passed, N failed[, N skipped]". Exits non-zero when
# anything failed or when no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bash scripts/ensure-tools.sh --minio --chromium --deploy --ldap --oidc || { echo "test.sh: tool provisioning failed" >&2; exit 1; }

[ -d /usr/local/go/bin ] && PATH="$PATH:/usr/local/go/bin"
if command -v minio >/dev/null; then
  RTER_MINIO_BIN="$(command -v minio)"
else
  RTER_MINIO_BIN="$(go env GOPATH)/bin/minio"
fi
export RTER_MINIO_BIN

# "./dir" makes bun treat each argument as a directory, not as a substring filter that would
# also pick up e.g. web/*.test.ts; missing directories are left out.
dirs=()
for d in app core workers cmd web test; do [ -d "$d" ] && dirs+=("./$d"); done
[ "${#dirs[@]}" -gt 0 ] || { echo "0 passed, 0 failed"; echo "test.sh: no test directories" >&2; exit 1; }

# test/deploy (ansible playbooks against real services, each drill in its own network and mount
# namespace, so its ports and Postgres sockets are its own) mostly waits on playbooks and services:
# it runs in a second `bun test` beside the rest instead of after it. Every other fixture takes a
# free port, a mkdtemp dir and a random database name, so the two processes cannot collide.
apart="test/deploy"
groups=(main)
main=("${dirs[@]}")
if [ -d "$apart" ]; then
  groups+=(deploy)
  main+=(--path-ignore-patterns "$apart/**")
fi

logs="$(mktemp -d)"
pids=()
trap 'rm -rf "$logs"' EXIT
# Stopped ourselves (CI timeout, Ctrl-C): stop the bun processes we started, not only this shell.
trap 'for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done; exit 130' INT TERM

# Each process's output goes to its own log and, as it comes, to stdout with the group's name and
# the seconds since the start in front of each line: "[deploy +612s] (pass) ...".
t0="$(date +%s)"
run() {
  local name="$1"; shift
  { bun test --timeout 120000 "$@" 2>&1; echo "$? $(( $(date +%s) - t0 ))" >"$logs/$name.rc"; } |
    tee "$logs/$name.log" |
    awk -v name="$name" -v t0="$t0" '{ printf "[%s +%ds] %s\n", name, systime() - t0, $0; fflush() }'
}
set -m # each group in its own process group, so the trap above stops all of it
for g in "${groups[@]}"; do
  if [ "$g" = main ]; then run main "${main[@]}" & else run "$g" "./$apart" & fi
  pids+=($!)
done
set +m
wait "${pids[@]}"

# Bun's summary: lines like " 12 pass", " 0 fail", " 2 skip", " 1 todo", " 1 error". The last one in a
# log is its process's own (a deploy drill prints the summary of the bun test it runs inside first).
count() { grep -E "^ *[0-9]+ $1\$" "$2" | tail -n 1 | tr -dc '0-9'; }
passed=0 failed=0 skipped=0 rc=0
for g in "${groups[@]}"; do
  log="$logs/$g.log" r="" secs=""
  p="$(count pass "$log")"; p="${p:-0}"
  f="$(count fail "$log")"; f="${f:-0}"
  e="$(count 'errors?' "$log")"; e="${e:-0}"
  s="$(count skip "$log")"; t="$(count todo "$log")"
  read -r r secs 2>/dev/null <"$logs/$g.rc"; r="${r:-1}"
  # A failure must show in the closing line too (crash, error between tests, no summary at all).
  if [ "$r" -ne 0 ] && [ "$f" -eq 0 ]; then f=$(( e > 0 ? e : 1 )); fi
  if [ "$f" -gt 0 ] && [ "$r" -eq 0 ]; then r=1; fi
  echo "test.sh: $g: $p passed, $f failed, exit $r after ${secs:-?} s"
  passed=$(( passed + p )); failed=$(( failed + f )); skipped=$(( skipped + ${s:-0} + ${t:-0} ))
  [ "$r" -ne 0 ] && rc="$r"
done

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"

if [ $(( passed + failed )) -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$rc"
