"""Encode throughput of Hugging Face `tokenizers` on ~1 MB of mixed text, and the ids for comparison.

    .venv-ref/bin/python scripts/reference/tokenizer_bench.py OUT_DIR [VOCAB_DIR]

Writes OUT_DIR/corpus.txt (Python source, English docstrings, multilingual lines; deterministic for a
given Python installation) and OUT_DIR/ids_<model>.json (HF's ids for the whole corpus, no special
tokens), and prints HF's single-call encode throughput. KilnTokenizersTests' benchmark test
(KILN_TOKENIZER_BENCH_DIR=OUT_DIR) checks Kiln's ids against these files and prints Kiln's throughput.
"""

import json
import random
import sys
import time
import sysconfig
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["smollm2", "qwen2.5", "gemma3"]
# Other tokenizer families (WordPiece, Unigram), where their tokenizer.json is present.
FAMILIES = {
    "minilm": ROOT / "Tests" / "goldens" / "tokenizers" / "minilm" / "tokenizer.json",
    "nomic-unigram": ROOT / "models" / "vocabs" / "unigram-nomic" / "tokenizer.json",
}

LINES = [
    "日本語のテキストです。東京は日本の首都で、人口は約1400万人です。",
    "中文文本示例：今天天气很好，我们去公园散步吧。",
    "한국어 텍스트 예시입니다. 서울은 대한민국의 수도입니다.",
    "Русский текст: Москва — столица России, население около 13 миллионов.",
    "Ελληνικά: Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "हिन्दी में लिखा गया पाठ। दिल्ली भारत की राजधानी है।",
    "العربية: القاهرة هي عاصمة مصر.",
    "Emoji 😀👍🏽👨‍👩‍👧 and symbols ½ ¼ ² ³ → ≠ ∞ ✓",
    "Français: « Ça va très bien, merci ! » — Zürich, Köln, Øresund.",
]


def corpus(target: int = 1_000_000) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text.encode())
        if size > target * 0.7:
            break
    rng = random.Random(7)
    while size < target:
        line = rng.choice(LINES) + "\n"
        parts.append(line)
        size += len(line.encode())
    return "".join(parts)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    text = corpus()
    (out / "corpus.txt").write_text(text, encoding="utf-8")
    mb = len(text.encode()) / 1e6
    paths = {name: ROOT / "models" / f"{name}-hf" / "tokenizer.json" for name in MODELS}
    vocab_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "models" / "vocabs"
    paths["minilm"] = FAMILIES["minilm"]
    paths["nomic-unigram"] = vocab_dir / "unigram-nomic" / "tokenizer.json"
    for name, path in paths.items():
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        tok = Tokenizer.from_file(str(path))
        tok.no_truncation()
        tok.no_padding()
        tok.encode(text[:1000], add_special_tokens=False)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ids = tok.encode(text, add_special_tokens=False).ids
            best = min(best, time.perf_counter() - t0)
        (out / f"ids_{name}.json").write_text(json.dumps(ids))
        lines = text.splitlines(keepends=True)
        t0 = time.perf_counter()
        for line in lines:
            tok.encode(line, add_special_tokens=False)
        per_line = time.perf_counter() - t0
        print(f"{name}: {mb:.2f} MB, {len(ids)} ids, HF tokenizers {mb / best:.2f} MB/s (best of 3, one call), "
              f"{mb / per_line:.2f} MB/s (one call per line, {len(lines)} lines)")


if __name__ == "__main__":
    main()
