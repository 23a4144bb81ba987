#!/usr/bin/env bash
# The whole test suite: typecheck, then every test file. Installs what is missing first.
# PostgreSQL tests run when DATABASE_URL is set (CI sets it), and are skipped, saying so, otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec npm test
