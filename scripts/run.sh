#!/usr/bin/env bash
# The README's run command: installs what is missing (Bun, npm dependencies, ffmpeg), then runs
# the whole appliance from this checkout. With no DATABASE_URL and no RTER_STORAGE_URL it uses
# the embedded defaults: a Postgres in ./.rter/postgres and video under ./.rter/objects.
# Extra arguments go to `rter serve` (e.g. --port 9000, --roles api,web).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
exec bun cmd/rter.ts serve "$@"
