#!/usr/bin/env bash
# Kiln's server against llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) on the same GGUF file and
# thread count, measured by `kiln bench serve` at several concurrencies. Runs alternate between the servers, round
# after round, so that the shared machine's noise falls on both alike; for each server and concurrency the round
# with the highest output throughput is kept. Writes docs/bench-serve/{kiln,llamacpp}-cN.json, chart.svg and
# results.md (the table).
#
# llama-cpp-python's server runs one request at a time (others wait on its lock); --interrupt_requests False
# keeps a new request from cutting the running one short (its default).
#
# Kiln is measured through TGI's /generate_stream (--backend tgi), llama.cpp through /v1/completions (--backend
# openai). Both decode greedily with max tokens = --output-len and stop early only at an end-of-sequence token;
# prompts are random common words tokenized to exactly --input-len tokens by each server's own tokenizer endpoint.
#
# usage: scripts/bench_serve_vs_llamacpp.sh [-t THREADS] [-c 1,4,8,16] [-r ROUNDS] [-i 128] [-o 128] [-p PER]
#                                          [-b BATCH] [-d OUT_DIR] [MODEL.gguf]
#        (-p: requests per run = PER x concurrency, at least 8; default 4; -b: Kiln's --max-batch-size, default 32;
#        -d: where the results go, default docs/bench-serve; KILN_ARGS: more `kiln serve` flags)
#        scripts/bench_serve_vs_llamacpp.sh --setup    # only install llama-cpp-python[server] into .venv-llamaserver
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-llamaserver}
VERSION=0.3.36
KILN=${KILN:-.build/release/kiln}
# LLAMA_CPP_LIB_PATH (read by llama-cpp-python) may point at an already built libllama.so to skip the build.
THREADS=2
LEVELS=1,4,8,16
ROUNDS=2
INPUT=128
OUTPUT=128
PER=4
BATCH=32
MODEL=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=docs/bench-serve
KILN_PORT=${KILN_PORT:-3901}
LLAMA_PORT=${LLAMA_PORT:-3902}

setup() {
    "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null && return
    [[ -d $VENV ]] || python3 -m venv "$VENV"
    # Builds llama.cpp from the sdist's vendored sources for this CPU (several minutes on 2 cores).
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF" "$VENV/bin/pip" install -q "llama-cpp-python[server]==$VERSION"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --setup) setup; exit 0 ;;
        -t) THREADS=$2; shift 2 ;;
        -c) LEVELS=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -i) INPUT=$2; shift 2 ;;
        -o) OUTPUT=$2; shift 2 ;;
        -p) PER=$2; shift 2 ;;
        -b) BATCH=$2; shift 2 ;;
        -d) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) MODEL=$1; shift ;;
    esac
done

setup
[[ -x $KILN ]] || { echo "no $KILN: make release (or KILN=path/to/kiln)" >&2; exit 1; }
mkdir -p "$OUT"
RUNS=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_ready() { # url path
    for _ in $(seq 1 600); do
        curl -sf -o /dev/null "$1$2" && return 0
        sleep 0.5
    done
    echo "server at $1 did not come up" >&2
    exit 1
}

"$KILN" serve --model "$MODEL" --threads "$THREADS" --hostname 127.0.0.1 --port "$KILN_PORT" \
    --max-batch-size "$BATCH" ${KILN_ARGS:-} >"$RUNS/kiln.log" 2>&1 &
PIDS+=($!)
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --n_ctx 2048 --interrupt_requests False --host 127.0.0.1 --port "$LLAMA_PORT" >"$RUNS/llama.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$KILN_PORT" /health
wait_ready "http://127.0.0.1:$LLAMA_PORT" /v1/models

bench() { # name backend port concurrency round
    local prompts=$(($4 * PER > 8 ? $4 * PER : 8))
    "$KILN" bench serve --url "http://127.0.0.1:$3" --backend "$2" --label "$1" --num-prompts "$prompts" \
        --max-concurrency "$4" --input-len "$INPUT" --output-len "$OUTPUT" --seed "$5" \
        --result-file "$RUNS/$1-c$4-r$5.json" | grep -E "Output token throughput|Median TPOT|P99 TPOT"
}

IFS=, read -ra CS <<<"$LEVELS"
for round in $(seq 1 "$ROUNDS"); do
    for c in "${CS[@]}"; do
        # Alternate which server goes first.
        if ((round % 2)); then order="kiln llamacpp"; else order="llamacpp kiln"; fi
        for s in $order; do
            echo "== round $round, concurrency $c, $s"
            if [[ $s == kiln ]]; then bench kiln tgi "$KILN_PORT" "$c" "$round"; else bench llamacpp openai "$LLAMA_PORT" "$c" "$round"; fi
        done
    done
done

# Keep each server's best round per concurrency.
python3 - "$RUNS" "$OUT" <<'PY'
import glob, json, os, shutil, sys
runs, out = sys.argv[1], sys.argv[2]
best = {}
for path in glob.glob(os.path.join(runs, "*.json")):
    r = json.load(open(path))
    key = (r["label"], r["max_concurrency"])
    if key not in best or r["summary"]["output_throughput"] > best[key][0]:
        best[key] = (r["summary"]["output_throughput"], path)
for (label, c), (_, path) in sorted(best.items()):
    shutil.copy(path, os.path.join(out, f"{label}-c{c}.json"))
PY
FILES=()
for c in "${CS[@]}"; do FILES+=("$OUT/kiln-c$c.json" "$OUT/llamacpp-c$c.json"); done
"$KILN" bench plot "${FILES[@]}" -o "$OUT/chart.svg" --markdown "$RUNS/table.md" \
    --title "Kiln vs llama.cpp server: $(basename "$MODEL"), $THREADS threads, $INPUT prompt / $OUTPUT generated tokens" >/dev/null
{
    echo "# kiln bench serve: Kiln vs llama.cpp's server"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(basename "$MODEL"), $THREADS threads each, $INPUT-token prompts, $OUTPUT new"
    echo "tokens (greedy; end-of-sequence may stop a request early: see the mean output tokens), $ROUNDS alternating"
    echo "rounds, best round kept. Kiln $(git rev-parse --short HEAD) with --max-batch-size $BATCH${KILN_ARGS:+ $KILN_ARGS},"
    echo "via TGI's /generate_stream; llama.cpp via llama-cpp-python[server]==$VERSION's /v1/completions."
    echo "Rerun: scripts/bench_serve_vs_llamacpp.sh -c $LEVELS -r $ROUNDS -p $PER -b $BATCH"
    echo
    cat "$RUNS/table.md"
    echo
    echo "![chart](chart.svg)"
} >"$OUT/results.md"
cat "$OUT/results.md"
echo "raw runs and server logs: $RUNS"
