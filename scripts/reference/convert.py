"""Converts Kiln's real GGUF test models into Hugging Face checkpoint directories, then repairs what the
conversion loses so that each directory behaves like the model's original release.

    .venv-ref/bin/python scripts/reference/convert.py [--force] [smollm2] [gemma3] [qwen2.5]

Writes models/<name>-hf/ (float32 safetensors) and, for SmolLM2, models/smollm2-hf-bf16/ (the same
weights cast to bfloat16). A directory whose marker file records the same GGUF and the same repair
version is left alone, so a second run takes about a second. See shared/reference/models.md for the
models and for the conversion traps repaired here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS_DIR = Path(os.environ.get("KILN_MODELS_DIR", ROOT / "models"))

# Bump when a repair below changes, so that existing directories are redone.
REPAIR_VERSION = 1
MARKER = ".kiln-reference.json"

MODELS = {
    "smollm2": {
        "gguf": "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "out": "smollm2-hf",
        "bf16_out": "smollm2-hf-bf16",
    },
    "gemma3": {
        "gguf": "gemma3/gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "out": "gemma3-hf",
    },
    "qwen2.5": {
        "gguf": "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "out": "qwen2.5-hf",
    },
}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: Path, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def is_done(out: Path, spec: dict) -> bool:
    marker = out / MARKER
    if not marker.is_file():
        return False
    m = read_json(marker)
    return m.get("gguf_sha256") == spec["sha256"] and m.get("repair_version") == REPAIR_VERSION


def write_marker(out: Path, spec: dict, extra: dict) -> None:
    import tokenizers
    import torch
    import transformers

    write_json(
        out / MARKER,
        {
            "gguf": spec["gguf"],
            "gguf_sha256": spec["sha256"],
            "repair_version": REPAIR_VERSION,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            **extra,
        },
    )


# ---------------------------------------------------------------------------------------------------
# Repairs. Each is idempotent: it edits the saved files towards the original release's and does nothing
# the second time.


def repair_smollm2(out: Path) -> list[str]:
    notes = []
    tj_path = out / "tokenizer.json"
    tj = read_json(tj_path)
    digits = {"type": "Digits", "individual_digits": True}
    pre = tj["pre_tokenizer"]
    steps = pre["pretokenizers"] if pre and pre.get("type") == "Sequence" else [pre]
    if digits not in steps:
        if len(steps) != 1 or steps[0].get("type") != "ByteLevel":
            raise RuntimeError(f"unexpected SmolLM2 pre-tokenizer: {pre}")
        tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [digits, steps[0]]}
        write_json(tj_path, tj)
        notes.append("restored the Digits(individual_digits) pre-tokenizer step before ByteLevel")
    tc_path = out / "tokenizer_config.json"
    tc = read_json(tc_path)
    if tc.get("tokenizer_class") != "PreTrainedTokenizerFast":
        tc["tokenizer_class"] = "PreTrainedTokenizerFast"
        write_json(tc_path, tc)
        notes.append("tokenizer_class = PreTrainedTokenizerFast")
    return notes


def repair_qwen25(out: Path) -> list[str]:
    notes = []
    tj_path = out / "tokenizer.json"
    tj = read_json(tj_path)
    if tj.get("normalizer") != {"type": "NFC"}:
        if tj.get("normalizer") is not None:
            raise RuntimeError(f"unexpected Qwen2.5 normalizer: {tj['normalizer']}")
        tj["normalizer"] = {"type": "NFC"}
        write_json(tj_path, tj)
        notes.append("added the NFC normalizer")
    notes += set_eos(out, [151645, 151643])
    return notes


def repair_gemma3(out: Path) -> list[str]:
    return set_eos(out, [1, 106])


def set_eos(out: Path, eos: list[int]) -> list[str]:
    path = out / "generation_config.json"
    gc = read_json(path)
    if gc.get("eos_token_id") == eos:
        return []
    gc["eos_token_id"] = eos
    write_json(path, gc)
    return [f"generation_config eos_token_id = {eos}"]


REPAIRS = {"smollm2": repair_smollm2, "gemma3": repair_gemma3, "qwen2.5": repair_qwen25}


# ---------------------------------------------------------------------------------------------------
# Checks of the repaired directory.


def check_tokenizer_against_gguf(name: str, out: Path, gguf_path: Path) -> None:
    """The repaired tokenizer.json, and transformers' tokenizer built on it, against an independent
    byte-level BPE that reads the GGUF's own vocabulary the way llama.cpp does."""
    from gguf_bpe import GgufBpe
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    reference = GgufBpe(str(gguf_path))
    fast = Tokenizer.from_file(str(out / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(out)
    probes = [
        "\n\n1.",
        "½ ¼",
        "x=12345678;  y = 3.14",
        "Hello world, it's 2024!\n\n\n",
        "  two\tspaces  and tabs\t\t",
        "e\u0301 cafe\u0301 \u212b",
        "日本語 🎉👨\u200d👩\u200d👧 مرحبا",
        "<|im_start|>user\nHi<|im_end|>\n",
    ]
    for text in probes:
        want = reference.encode(text)
        got = fast.encode(text, add_special_tokens=False).ids
        got_auto = auto.encode(text, add_special_tokens=False)
        if got != want or got_auto != want:
            raise RuntimeError(
                f"{name}: tokenizer disagrees with the GGUF vocabulary on {text!r}:\n"
                f"  gguf  {want} {reference.pieces(want)}\n  tokenizer.json {got}\n  AutoTokenizer {got_auto}"
            )
    print(f"  tokenizer agrees with the GGUF vocabulary on {len(probes)} probes")


def check_gemma3(out: Path) -> None:
    cfg = read_json(out / "config.json")
    want = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "num_hidden_layers": 18,
        "hidden_size": 640,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "sliding_window": 512,
        "query_pre_attn_scalar": 256,
        "hidden_activation": "gelu_pytorch_tanh",
        "tie_word_embeddings": True,
        "vocab_size": 262144,
    }
    for k, v in want.items():
        if cfg.get(k) != v:
            raise RuntimeError(f"gemma3 config: {k} = {cfg.get(k)!r}, expected {v!r}")
    rope = cfg["rope_parameters"]
    if rope["sliding_attention"]["rope_theta"] != 10000.0 or rope["full_attention"]["rope_theta"] != 1000000.0:
        raise RuntimeError(f"gemma3 config: unexpected RoPE bases {rope}")
    types = cfg["layer_types"]
    expected = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(18)]
    if types != expected:
        raise RuntimeError(f"gemma3 config: unexpected layer_types {types}")
    tok = read_json(out / "tokenizer.json")
    if any(" " in t for t in tok["model"]["vocab"]):
        raise RuntimeError("gemma3 tokenizer: a vocabulary entry is spelled with a space instead of '▁'")
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(out)
    ids = auto.encode("<start_of_turn>user\nHi<end_of_turn>\n")
    if ids[:2] != [2, 105] or 106 not in ids:
        raise RuntimeError(f"gemma3 tokenizer: chat markers not parsed as special tokens: {ids}")
    print("  gemma3 config: 5 local (window 512, RoPE 1e4) : 1 global (RoPE 1e6), query_pre_attn_scalar 256")


# ---------------------------------------------------------------------------------------------------


def convert(name: str, force: bool) -> None:
    spec = MODELS[name]
    gguf_path = MODELS_DIR / spec["gguf"]
    out = MODELS_DIR / spec["out"]
    outs = [out] + ([MODELS_DIR / spec["bf16_out"]] if "bf16_out" in spec else [])
    if not force and all(is_done(o, spec) for o in outs):
        print(f"{name}: {', '.join(str(o) for o in outs)} up to date")
        return
    if not gguf_path.is_file():
        raise SystemExit(f"{name}: {gguf_path} is missing; run scripts/fetch_models.sh {name}")
    started = time.time()
    print(f"{name}: checking {gguf_path}")
    if sha256(gguf_path) != spec["sha256"]:
        raise SystemExit(f"{name}: sha256 of {gguf_path} does not match")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: converting to {out}")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    tokenizer.save_pretrained(tmp)
    # transformers keeps GGUF weights packed unless told to unpack them, and a packed model cannot be
    # saved: dequantize=True gives a plain float32 model.
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent,
        gguf_file=gguf_path.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
    )
    model.save_pretrained(tmp)
    notes = REPAIRS[name](tmp)
    for n in notes:
        print(f"  repaired: {n}")
    check_tokenizer = name in ("smollm2", "qwen2.5")
    if check_tokenizer:
        check_tokenizer_against_gguf(name, tmp, gguf_path)
    if name == "gemma3":
        check_gemma3(tmp)
    for f in tmp.glob("*.safetensors"):
        f.chmod(0o644)
    write_marker(tmp, spec, {"dtype": "float32", "repairs": notes})
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)

    if "bf16_out" in spec:
        bf16 = MODELS_DIR / spec["bf16_out"]
        tmp = bf16.with_name(bf16.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.to(torch.bfloat16).save_pretrained(tmp)
        for f in TOKENIZER_FILES + ("generation_config.json",):
            if (out / f).is_file():
                shutil.copy2(out / f, tmp / f)
        for f in tmp.glob("*.safetensors"):
            f.chmod(0o644)
        write_marker(tmp, spec, {"dtype": "bfloat16", "repairs": notes})
        shutil.rmtree(bf16, ignore_errors=True)
        tmp.rename(bf16)
        print(f"{name}: wrote {bf16}")
    print(f"{name}: done in {time.time() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=f"any of {', '.join(MODELS)} (default: smollm2)")
    parser.add_argument("--force", action="store_true", help="convert again even when up to date")
    args = parser.parse_args()
    for name in args.models or ["smollm2"]:
        if name not in MODELS:
            parser.error(f"unknown model {name!r} (known: {' '.join(MODELS)})")
        convert(name, args.force)


if __name__ == "__main__":
    main()
