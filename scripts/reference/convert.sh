#!/usr/bin/env bash
# Makes the Hugging Face checkpoint directories of Kiln's real test models (models/<name>-hf/, and
# models/smollm2-hf-bf16/) from their GGUF files, fetching those first where missing. Needs .venv-ref
# (scripts/reference/setup.sh). Quick when the directories are already up to date.
#   scripts/reference/convert.sh [--force] [smollm2] [gemma3] [qwen2.5]     (default: smollm2)
set -euo pipefail
cd "$(dirname "$0")/../.."
models=()
for a in "$@"; do [ "$a" = --force ] || models+=("$a"); done
[ ${#models[@]} -gt 0 ] || models=(smollm2)
[ -x .venv-ref/bin/python ] || { echo "missing .venv-ref: run scripts/reference/setup.sh first" >&2; exit 1; }
scripts/fetch_models.sh "${models[@]}"
exec .venv-ref/bin/python scripts/reference/convert.py "$@"
