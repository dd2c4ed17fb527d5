#!/usr/bin/env bash
# Decode tokens/s of TP=2 (one thread per rank) against one process (1 and 2 threads), in the same mpirun job and
# alternating rounds, plus the bytes rank 0 exchanged per decoded token. Greedy, 32 tokens per golden prompt of at
# most 200 tokens.
#
#   scripts/parallel/bench-tp.sh [kiln] [model] [golden] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=${1:-.build/release/kiln}
MODEL=${2:-models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
GOLDEN=${3:-Tests/goldens/smollm2.json}
ROUNDS=${4:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for round in $(seq "$ROUNDS"); do
    for single in 1 2; do
        mpirun -np 2 "$KILN" parallel-check --model "$MODEL" --golden "$GOLDEN" --tokens 32 --max-prompt-tokens 200 \
            --threads 1 --single-threads $single > "$OUT/r$round-s$single.jsonl" 2>/dev/null
    done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    single_threads = int(path.rsplit("-s", 1)[1].split(".")[0])
    records = [json.loads(l) for l in open(path) if l.startswith("{")]
    prompts = [r for r in records if "prompt" in r]
    tokens = sum(len(p["tp"]) - 1 for p in prompts)
    rows.setdefault(("one process", single_threads), []).append(tokens / sum(p["single_seconds"] for p in prompts))
    rows.setdefault(("TP=2", 1), []).append(tokens / sum(p["tp_seconds"] for p in prompts))
    per_token = sum(p["decode_bytes"] for p in prompts) / tokens
for (name, threads), values in sorted(rows.items()):
    values.sort()
    print(f"{name:12s} {threads} thread(s)/rank: decode {values[len(values) // 2]:.1f} tokens/s (median of {len(values)}: {', '.join(f'{v:.1f}' for v in values)})")
print(f"bytes rank 0 sent per decoded token (all-reduce payload + step broadcast): {per_token:.0f}")
PY
