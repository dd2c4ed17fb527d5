"""Goldens for the tokenizer families beyond the three test models, from Hugging Face `tokenizers`.

    .venv-ref/bin/python scripts/reference/make_vocab_goldens.py --build-unigram models/vocabs
    .venv-ref/bin/python scripts/reference/make_vocab_goldens.py [VOCAB_DIR]

--build-unigram writes VOCAB_DIR/unigram-nomic/tokenizer.json: a Unigram tokenizer (XLM-R style:
NFKC, runs of spaces collapsed by a regex Replace, Metaspace, "<s> $A </s>") over the pieces and
scores of llama.cpp's ggml-vocab-nomic-bert-moe.gguf (a 250k-piece SentencePiece Unigram vocabulary),
built with `tokenizers` itself. scripts/fetch_tokenizer_vocabs.sh runs it.

Without it, writes Tests/goldens/tokenizer_<name>.json for
  - minilm:        Tests/goldens/tokenizers/minilm/tokenizer.json (all-MiniLM-L6-v2, BERT WordPiece),
  - nomic-unigram: VOCAB_DIR/unigram-nomic/tokenizer.json,
over the ~300 strings of tokenizer_corpus.py: ids (add_special_tokens=True), ids_plain (False),
decoded (decode(ids_plain)), decoded_skip (decode(ids, skip_special_tokens=True)).
"""

import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_corpus import corpus  # noqa: E402


def build_unigram(vocab_dir: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(vocab_dir / "ggml-vocab-nomic-bert-moe.gguf"))

    def field(name):
        f = reader.fields[name]
        return [f.parts[i] for i in f.data]

    pieces = [bytes(p).decode("utf-8") for p in field("tokenizer.ggml.tokens")]
    scores = [float(s[0]) for s in field("tokenizer.ggml.scores")]
    unk = int(reader.fields["tokenizer.ggml.unknown_token_id"].parts[-1][0])
    tok = Tokenizer(models.Unigram(list(zip(pieces, scores)), unk_id=unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    specials = [(p, i) for i, p in enumerate(pieces) if p in ("<s>", "</s>", "<pad>", "<unk>", "<mask>")]
    tok.add_special_tokens([p for p, _ in specials])
    ids = dict(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])]
    )
    out = vocab_dir / "unigram-nomic"
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    print(out / "tokenizer.json", tok.get_vocab_size())


def goldens(name: str, path: Path) -> None:
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    entries = []
    for text in corpus():
        ids = tok.encode(text, add_special_tokens=True).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        entries.append({
            "text": text, "ids": ids, "ids_plain": plain,
            "decoded": tok.decode(plain, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
        })
    out = ROOT / "Tests" / "goldens" / f"tokenizer_{name}.json"
    meta = {"tokenizers": tokenizers.__version__, "tokenizer_json": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"model": name, "meta": meta, "entries": entries}, f, ensure_ascii=True, separators=(",", ":"))
    print(out, len(entries))


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--build-unigram"]:
        build_unigram(Path(args[1]))
        return
    vocab_dir = Path(args[0]) if args else ROOT / "models" / "vocabs"
    goldens("minilm", ROOT / "Tests" / "goldens" / "tokenizers" / "minilm" / "tokenizer.json")
    goldens("nomic-unigram", vocab_dir.resolve() / "unigram-nomic" / "tokenizer.json")


if __name__ == "__main__":
    main()
