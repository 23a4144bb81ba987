#!/usr/bin/env bash
# Installs what oma needs and is missing: Node dependencies (npm ci, when package-lock.json changed)
# and, on Debian as root, the system packages sandboxes use (bubblewrap, socat, git).
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("oma needs Node.js >= 20.19, this is "+process.version); process.exit(1) }'

missing=()
for pkg in bubblewrap socat git; do
  command -v dpkg >/dev/null 2>&1 || break
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing system packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
  fi
fi

stamp=node_modules/.oma-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
