"""Writes the reference goldens that Kiln's correctness tests compare against (Tests/goldens/README.md).

    .venv-ref/bin/python scripts/reference/make_goldens.py [--skip-model] [--skip-tokenizer] [MODEL ...]

MODEL is any of smollm2, gemma3, qwen2.5 (default: all three). Needs the Hugging Face directories that
scripts/reference/convert.sh makes. Everything runs in float32 on the CPU with two threads, and the
output is deterministic for a given environment (scripts/reference/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import transformers  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from convert import MODELS, MODELS_DIR, ROOT, read_json  # noqa: E402
from tokenizer_corpus import corpus  # noqa: E402

GOLDENS = ROOT / "Tests" / "goldens"
TOP_K = 16
TAIL_IDS = 32
NEW_TOKENS = 32
LONG_POSITIONS = 8
NEAR_TIE = 0.05
DIGITS = 5  # decimals kept for logits


def r(x: float) -> float:
    return round(float(x), DIGITS)


def _leaf(v) -> bool:
    """A scalar, a list of scalars or of lists of scalars, or an object of those: written on one line."""
    if isinstance(v, dict):
        return all(_leaf(x) and not isinstance(x, dict) for x in v.values())
    if isinstance(v, list):
        return all(not isinstance(x, (dict, list)) or (isinstance(x, list) and _leaf(x)) for x in v)
    return True


def dumps_compact(value, indent: int = 0) -> str:
    """JSON with one line per leaf (see _leaf), so the files stay small yet diffable."""
    if _leaf(value):
        return json.dumps(value, ensure_ascii=False)
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps_compact(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [f"{inner}{dumps_compact(v, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def write(path: Path, value) -> None:
    path.write_text(dumps_compact(value) + "\n", encoding="utf-8")
    print(f"  wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.1f} KiB)")


def versions() -> dict:
    return {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "python": sys.version.split()[0],
    }


# Extra model goldens from another conversion of the same GGUF: the BF16 checkpoint is upcast exactly to
# float32 by transformers, so its goldens check Kiln's BF16 weight path against the same arithmetic.
VARIANTS = {"smollm2-bf16": ("smollm2", "bf16_out")}


def hf_dir(name: str) -> Path:
    base, key = VARIANTS.get(name, (name, "out"))
    d = MODELS_DIR / MODELS[base][key]
    if not (d / "config.json").is_file():
        raise SystemExit(f"{d} is missing: run scripts/reference/convert.sh {name}")
    return d


def model_prompts(name: str) -> list[dict]:
    name = VARIANTS.get(name, (name,))[0]
    prompts = json.loads((GOLDENS / "prompts.json").read_text(encoding="utf-8"))
    return [p for p in prompts if name in p.get("models", [name])]


def logit_positions(n: int, long: bool) -> list[int]:
    if long:
        return sorted({round(i * (n - 1) / (LONG_POSITIONS - 1)) for i in range(LONG_POSITIONS)})
    return sorted({0, n // 2, n - 1})


def logit_record(pos: int, row: torch.Tensor, tail_ids: list[int]) -> dict:
    top = torch.topk(row, TOP_K)
    return {
        "pos": pos,
        "max_abs": r(row.abs().max()),
        "top": [[int(i), r(v)] for v, i in zip(top.values, top.indices)],
        "tail": [r(row[i]) for i in tail_ids],
    }


@torch.no_grad()
def greedy(model, ids: list[int]) -> tuple[list[int], list[float]]:
    """NEW_TOKENS greedy tokens with the KV cache, as generation runs; no token ever stops it."""
    cache = transformers.DynamicCache(config=model.config)
    inputs = torch.tensor([ids])
    out_ids, margins = [], []
    for _ in range(NEW_TOKENS):
        out = model(input_ids=inputs, cache=cache, use_cache=True)
        row = out.logits[0, -1].float()
        top2 = torch.topk(row, 2)
        nxt = int(top2.indices[0])
        out_ids.append(nxt)
        margins.append(r(top2.values[0] - top2.values[1]))
        inputs = torch.tensor([[nxt]])
    return out_ids, margins


@torch.no_grad()
def model_goldens(name: str) -> None:
    started = time.time()
    d = hf_dir(name)
    print(f"{name}: model goldens from {d}")
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    vocab = model.config.vocab_size
    base = VARIANTS.get(name, (name,))[0]
    tail_ids = sorted(random.Random(f"kiln-goldens-{base}").sample(range(vocab), TAIL_IDS))
    marker = read_json(d / ".kiln-reference.json")
    bos_id = tok.bos_token_id
    entries = []
    for p in model_prompts(name):
        t0 = time.time()
        ids = tok(p["text"])["input_ids"]
        plain = tok(p["text"], add_special_tokens=False)["input_ids"]
        n = len(ids)
        long = n > 256
        # One full forward pass (no cache) for the logits.
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
        records = [logit_record(pos, logits[pos], tail_ids) for pos in logit_positions(n, long)]
        del logits
        gen, margins = greedy(model, ids)
        # The same continuation checked against one full pass over prompt + continuation: a step whose
        # argmax differs there sits on a near-tie between cached and uncached arithmetic.
        full = model(input_ids=torch.tensor([ids + gen[:-1]]), use_cache=False).logits[0, n - 1 :].float()
        full_argmax = full.argmax(-1).tolist()
        disagree = [i for i, (a, b) in enumerate(zip(full_argmax, gen)) if a != b]
        near = [i for i, m in enumerate(margins) if m < NEAR_TIE]
        entry = {
            "name": p["name"],
            "n_tokens": n,
            "bos_added": ids[:1] == [bos_id] and plain[:1] != [bos_id],
            "ids": ids,
            "logits": records,
            "greedy": gen,
            "greedy_margins": margins,
        }
        entries.append(entry)
        text = tok.decode(gen, skip_special_tokens=False)
        print(f"  {p['name']}: {n} tokens, {time.time() - t0:.1f} s; continuation {text!r}")
        if near:
            print(f"    near-ties (margin < {NEAR_TIE}) at steps {near}: {[margins[i] for i in near]}")
        if disagree:
            print(f"    cached greedy differs from the full pass at steps {disagree}")
    golden = {
        "model": name,
        "meta": {
            **versions(),
            "gguf": MODELS[base]["gguf"],
            "gguf_sha256": MODELS[base]["sha256"],
            "hf_dir": str(d.relative_to(ROOT)),
            "repairs": marker.get("repairs", []),
            "architecture": model.config.architectures[0],
            "vocab_size": vocab,
            "dtype": "float32",
            "attn_implementation": "eager",
            "bos_token_id": bos_id,
            "logit_decimals": DIGITS,
            "tolerance": {"logits_rel_max_abs": 1e-3, "greedy_near_tie_margin": NEAR_TIE},
        },
        "tail_ids": tail_ids,
        "prompts": entries,
    }
    write(GOLDENS / f"{name}.json", golden)
    print(f"{name}: model goldens in {time.time() - started:.0f} s")


def tokenizer_goldens(name: str) -> None:
    started = time.time()
    d = hf_dir(name)
    print(f"{name}: tokenizer goldens from {d}")
    auto = AutoTokenizer.from_pretrained(d)
    fast = Tokenizer.from_file(str(d / "tokenizer.json"))
    reference = None
    if name in ("smollm2", "qwen2.5"):
        from gguf_bpe import GgufBpe

        reference = GgufBpe(str(MODELS_DIR / MODELS[name]["gguf"]))
    entries, gguf_diffs = [], []
    for text in corpus():
        ids = auto.encode(text, add_special_tokens=True)
        plain = auto.encode(text, add_special_tokens=False)
        if fast.encode(text, add_special_tokens=True).ids != ids or fast.encode(text, add_special_tokens=False).ids != plain:
            raise SystemExit(f"{name}: tokenizer.json and transformers' tokenizer disagree on {text!r}")
        if reference is not None and reference.encode(text) != plain:
            gguf_diffs.append(text)
        entries.append({"text": text, "ids": ids, "ids_plain": plain, "decoded": auto.decode(plain, skip_special_tokens=False)})
    round_trip = sum(e["decoded"] == e["text"] for e in entries)
    golden = {
        "model": name,
        "meta": {
            **versions(),
            "hf_dir": f"models/{MODELS[name]['out']}",
            "tokenizer_class": type(auto).__name__,
            "bos_token_id": auto.bos_token_id,
            "adds_bos": bool(entries and entries[0]["ids"][:1] == [auto.bos_token_id] and entries[0]["ids_plain"][:1] != [auto.bos_token_id]),
            "fields": "ids: encode(add_special_tokens=True); ids_plain: encode(add_special_tokens=False); "
            "decoded: decode(ids_plain, skip_special_tokens=False)",
        },
        "entries": entries,
    }
    write(GOLDENS / f"tokenizer_{name}.json", golden)
    print(f"  {len(entries)} strings, {round_trip} decode back to the same text")
    if reference is not None:
        print(f"  differs from the GGUF-vocabulary BPE on {len(gguf_diffs)} strings: {gguf_diffs[:8]!r}")
    print(f"{name}: tokenizer goldens in {time.time() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=f"any of {', '.join([*MODELS, *VARIANTS])} (default: all)")
    parser.add_argument("--skip-model", action="store_true", help="write only the tokenizer goldens")
    parser.add_argument("--skip-tokenizer", action="store_true", help="write only the model goldens")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    for name in args.models or [*MODELS, *VARIANTS]:
        if name not in MODELS and name not in VARIANTS:
            parser.error(f"unknown model {name!r} (known: {' '.join([*MODELS, *VARIANTS])})")
        if not args.skip_tokenizer and name in MODELS:
            tokenizer_goldens(name)
        if not args.skip_model:
            model_goldens(name)


if __name__ == "__main__":
    main()
