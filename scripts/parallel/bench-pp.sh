#!/usr/bin/env bash
# Tokens/s of one process (1 thread), TP=2 and PP=2 (one thread per rank), alternating rounds of separate mpirun
# jobs, plus the bytes rank 0 exchanged per decoded token (its stage's all-reduces included). Greedy, 32 tokens per
# golden prompt; prefill tokens/s over the prompts' own steps (where PP's micro-batches can keep both stages busy),
# decode tokens/s after them. MODES="tp pp tppp" adds TP=2×PP=2 (4 ranks: oversubscribed on a 2-core machine).
#
#   scripts/parallel/bench-pp.sh [kiln] [model] [golden] [rounds] [max prompt tokens]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=${1:-.build/release/kiln}
MODEL=${2:-models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
GOLDEN=${3:-Tests/goldens/smollm2.json}
ROUNDS=${4:-3}
MAXPROMPT=${5:-1200}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
MODES=${MODES:-tp pp}
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        extra=()
        ranks=2
        [ "$mode" = pp ] && extra=(--pipeline-parallel 2)
        [ "$mode" = tppp ] && extra=(--pipeline-parallel 2) && ranks=4
        mpirun --oversubscribe -np "$ranks" "$KILN" parallel-check --model "$MODEL" --golden "$GOLDEN" --tokens 32 \
            --max-prompt-tokens "$MAXPROMPT" --threads 1 --single-threads 1 "${extra[@]}" > "$OUT/r$round-$mode.jsonl" 2>/dev/null
    done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
rows, per_token = {}, {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    mode = {"tp": "TP=2", "pp": "PP=2", "tppp": "TP=2xPP=2"}[path.rsplit("-", 1)[1][:-len(".jsonl")]]
    prompts = [r for r in (json.loads(l) for l in open(path) if l.startswith("{")) if "prompt" in r]
    decoded = sum(len(p["tp"]) - 1 for p in prompts)
    prompt_tokens = sum(p["prompt_tokens"] for p in prompts)
    for name, key in (("one process", "single"), (mode, "tp")):
        rows.setdefault((name, "decode"), []).append(decoded / sum(p[key + "_seconds"] for p in prompts))
        rows.setdefault((name, "prefill"), []).append(prompt_tokens / sum(p[key + "_prefill_seconds"] for p in prompts))
    per_token.setdefault(mode, []).append(sum(p["decode_bytes"] for p in prompts) / decoded)
for (name, kind), values in sorted(rows.items()):
    values.sort()
    print(f"{name:12s} {kind:7s} {values[len(values) // 2]:7.1f} tokens/s (median of {len(values)}: {', '.join(f'{v:.1f}' for v in values)})")
for mode, values in sorted(per_token.items()):
    print(f"{mode}: bytes rank 0 exchanged per decoded token: {sum(values) / len(values):.0f}")
PY
