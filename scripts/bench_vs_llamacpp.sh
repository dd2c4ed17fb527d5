#!/usr/bin/env bash
# Kiln against llama.cpp on the same GGUF files, same thread count, runs alternating so that the shared
# machine's noise falls on both alike. Prints tg128 and pp512 tokens/s of each and Kiln's ratio.
#
# llama.cpp comes from PyPI's llama-cpp-python sdist (it vendors llama.cpp's sources); its llama-bench tool is
# built once with CMake into .venv-llama/ (needs `apt-get install -y cmake`; a few minutes on 2 cores).
#
# usage: scripts/bench_vs_llamacpp.sh [-t THREADS] [-r ROUNDS] [-p 512] [-n 128] [MODEL.gguf ...]
#        scripts/bench_vs_llamacpp.sh --setup      # only build llama-bench
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-llama
VERSION=0.3.36
LLAMA_BENCH=$VENV/build/bin/llama-bench
KILN=${KILN:-.build/release/kiln}
THREADS=2
ROUNDS=3
PROMPT=512
GEN=128
MODELS=()

setup() {
    [[ -x $LLAMA_BENCH ]] && return
    command -v cmake >/dev/null || { echo "cmake missing: apt-get install -y cmake" >&2; exit 1; }
    [[ -d $VENV ]] || python3 -m venv "$VENV"
    local src=$VENV/src/llama_cpp_python-$VERSION
    if [[ ! -d $src ]]; then
        "$VENV/bin/pip" download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$VENV/src"
        tar -xzf "$VENV/src/llama_cpp_python-$VERSION.tar.gz" -C "$VENV/src"
    fi
    cmake -S "$src/vendor/llama.cpp" -B "$VENV/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DBUILD_SHARED_LIBS=OFF
    cmake --build "$VENV/build" --target llama-bench -j "$(nproc)"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --setup) setup; exit 0 ;;
        -t) THREADS=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -p) PROMPT=$2; shift 2 ;;
        -n) GEN=$2; shift 2 ;;
        *) MODELS+=("$1"); shift ;;
    esac
done
if [[ ${#MODELS[@]} -eq 0 ]]; then
    MODELS=(models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf models/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
        models/gemma3/gemma-3-270m-q4_k_m.gguf)
fi
setup
[[ -x $KILN ]] || { echo "$KILN missing: swift build -c release -Xswiftc -target-cpu -Xswiftc znver4 --scratch-path .build-kern" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for model in "${MODELS[@]}"; do
    name=$(basename "$model" .gguf)
    for round in $(seq "$ROUNDS"); do
        # One llama-bench repetition and one Kiln repetition per round, alternating.
        "$LLAMA_BENCH" -m "$model" -t "$THREADS" -p "$PROMPT" -n "$GEN" -r 1 -o json 2>/dev/null >"$TMP/llama.$name.$round.json"
        "$KILN" bench --model "$model" -t "$THREADS" -p "$PROMPT" -n "$GEN" -r 1 --json >"$TMP/kiln.$name.$round.json"
    done
    python3 - "$TMP" "$name" "$ROUNDS" "$PROMPT" "$GEN" "$THREADS" <<'PY'
import json, statistics, sys
tmp, name, rounds, p, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
def load(engine, round_):
    with open(f"{tmp}/{engine}.{name}.{round_}.json") as f:
        rows = json.load(f)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == p and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == n and r["n_prompt"] == 0)
    return pp, tg
runs = {e: [load(e, r) for r in range(1, rounds + 1)] for e in ("llama", "kiln")}
print(f"{name} ({threads} threads, {rounds} alternating rounds)")
for i, test in ((1, f"tg{n}"), (0, f"pp{p}")):
    ll = [x[i] for x in runs["llama"]]
    ki = [x[i] for x in runs["kiln"]]
    ratios = [k / l for k, l in zip(ki, ll)]
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
    print(f"  {test:6s} llama.cpp {statistics.mean(ll):8.1f} ± {sd(ll):6.1f} t/s   kiln {statistics.mean(ki):8.1f} ± {sd(ki):6.1f} t/s"
          f"   kiln/llama.cpp {statistics.mean(ratios):.2f}x (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
PY
done
