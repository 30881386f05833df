#!/usr/bin/env bash
# Run Revwatch: install it into .venv (first time, or when pyproject.toml changed), then `revwatch up`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""
exec .venv/bin/revwatch up "$@"
