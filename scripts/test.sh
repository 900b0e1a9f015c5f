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

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
bun test --timeout 120000 "${dirs[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

# Bun's summary: lines like " 12 pass", " 0 fail", " 2 skip", " 1 todo", " 1 error".
count() { grep -E "^ *[0-9]+ $1\$" "$out" | tail -n 1 | tr -dc '0-9'; }
passed="$(count pass)"; passed="${passed:-0}"
failed="$(count fail)"; failed="${failed:-0}"
errors="$(count 'errors?')"; errors="${errors:-0}"
skip="$(count skip)"; todo="$(count todo)"
skipped=$(( ${skip:-0} + ${todo:-0} ))

# A failure must show in the closing line too (crash, error between tests, no summary at all).
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=$(( errors > 0 ? errors : 1 )); fi
if [ "$failed" -gt 0 ] && [ "$rc" -eq 0 ]; then rc=1; fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"

if [ $(( passed + failed )) -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$rc"
