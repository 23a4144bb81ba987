#!/usr/bin/env bash
# Installs what is missing, then runs oma on embedded PGlite (./.oma) with bubblewrap sandboxes, and
# once it is up, a demo against it with the official SDK (examples/quickstart.ts): a whole turn with
# a tool call. Without ANTHROPIC_API_KEY the model is `oma fake-model` playing
# examples/fake-model-script.json, so no key or network is needed; with one, it is Claude.
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
export OMA_URL="${OMA_URL:-http://${HOST:-127.0.0.1}:${PORT:-8080}}"

model=""
if [ -z "${ANTHROPIC_API_KEY:-}" ]; then
  model_port="${OMA_FAKE_MODEL_PORT:-8090}"
  node bin/oma.js fake-model --script examples/fake-model-script.json --port "$model_port" --when-exhausted end_turn &
  model=$!
  export ANTHROPIC_BASE_URL="http://127.0.0.1:$model_port" ANTHROPIC_API_KEY="offline-demo"
  echo "no ANTHROPIC_API_KEY: the model is oma fake-model at $ANTHROPIC_BASE_URL (examples/fake-model-script.json)" >&2
fi
node bin/oma.js serve "$@" &
server=$!
trap 'kill -TERM "$server" $model 2>/dev/null; wait "$server"' INT TERM
node -e '
  const url = process.env.OMA_URL + "/healthz";
  const deadline = Date.now() + 120000;
  (async () => {
    for (;;) {
      try { if ((await fetch(url)).ok) return; } catch {}
      if (Date.now() > deadline) { console.error("oma did not come up at " + url); process.exit(1); }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
' && echo "--- demo: examples/quickstart.ts against $OMA_URL ---" >&2 \
  && node --import tsx examples/quickstart.ts \
  && echo "--- demo done; oma keeps running (Ctrl-C stops it) ---" >&2
wait "$server"
if [ -n "$model" ]; then kill -TERM "$model" 2>/dev/null || true; fi
