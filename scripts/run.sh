#!/usr/bin/env bash
# Installs what is missing, then runs oma on embedded PGlite (./.oma) with bubblewrap sandboxes.
# No Anthropic key needed. An API key for the SDK is generated on first run and kept in .oma/api-key.
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
exec node bin/oma.js serve "$@"
