#!/usr/bin/env bash
# Installs what is missing, then runs oma on embedded PGlite (./.oma) with bubblewrap sandboxes and a
# demo turn against it with the official SDK (examples/sandbox-demo.ts): the agent writes a program in
# its sandbox and runs it. Without ANTHROPIC_API_KEY the model is scripted (examples/sandbox-demo-script.json),
# so no key or network is needed; with one, it is Claude.
# An API key for the SDK is generated on first run and kept in .oma/api-key.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ -z "${OMA_API_KEY:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  dir="${OMA_DATA_DIR:-.oma}"
  mkdir -p "$dir"
  if [ ! -s "$dir/api-key" ]; then
    (umask 077; node -e 'console.log("sk-oma-" + require("crypto").randomBytes(24).toString("base64url"))' > "$dir/api-key")
  fi
  OMA_API_KEY=$(cat "$dir/api-key")
  export OMA_API_KEY
  echo "API key for this server (also in $dir/api-key): $OMA_API_KEY" >&2
fi
# One process: oma (API, brains, bubblewrap sandboxes) and the demo turn against it; it keeps serving
# afterwards (Ctrl-C stops it). `oma demo` says whether the model is scripted or Claude.
exec node bin/oma.js demo "$@"
