#!/usr/bin/env bash
# Creates .venv-ref at the repository root: the Python reference (transformers + torch on the CPU) that
# Kiln's goldens are made with. Idempotent: an environment already built from the same requirements.txt
# is left alone.
#   scripts/reference/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-ref
REQ=scripts/reference/requirements.txt
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "$VENV is up to date"
    exit 0
fi
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# torch is pinned to the CPU build; the index is never allowed to pick a CUDA variant for it.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" - <<'PY'
import torch, transformers, tokenizers, gguf  # noqa: F401
assert not torch.version.cuda, f"expected a CPU build of torch, got CUDA {torch.version.cuda}"
print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
PY
echo "$want" > "$STAMP"
