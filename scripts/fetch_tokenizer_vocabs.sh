#!/usr/bin/env bash
# Fetches the tokenizer test vocabularies into models/vocabs (or $1), skipping what is already there:
#  - llama.cpp's vocabulary-only GGUF files with their test vectors (ggml-vocab-*.gguf, .inp, .out), taken
#    from the llama-cpp-python source distribution on PyPI (~77 MB download, ~75 MB kept);
#  - unigram-nomic/tokenizer.json, a Unigram tokenizer that Hugging Face `tokenizers` builds from one of
#    those files (scripts/reference/make_vocab_goldens.py --build-unigram; needs the reference venv).
# KilnTokenizersTests read them from models/vocabs, or from $KILN_VOCAB_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-models/vocabs}"
LLAMA_CPP_PYTHON=0.3.36
PYTHON="${PYTHON:-$([ -x .venv-ref/bin/python ] && echo .venv-ref/bin/python || echo python3)}"
mkdir -p "$DEST"

if [ ! -f "$DEST/ggml-vocab-gpt-2.gguf.out" ]; then
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    echo "fetching llama-cpp-python==$LLAMA_CPP_PYTHON (source) for its vocab files"
    # pip prepares an sdist's metadata in an isolated build environment, which fails now and then.
    for attempt in 1 2 3; do
        "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON" \
            -d "$TMP" && break
        [ "$attempt" = 3 ] && exit 1
        echo "retrying"
    done
    tar xzf "$TMP"/llama_cpp_python-*.tar.gz -C "$DEST" --strip-components=4 \
        --wildcards "*/vendor/llama.cpp/models/ggml-vocab-*"
fi

if [ ! -f "$DEST/unigram-nomic/tokenizer.json" ]; then
    "$PYTHON" scripts/reference/make_vocab_goldens.py --build-unigram "$DEST"
fi
echo "tokenizer vocabularies in $DEST"
