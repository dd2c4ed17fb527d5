"""Writes Tests/goldens/prompt_logprobs_smollm2.json: each prompt token's log-probability given the tokens before
it (TGI's `decoder_input_details`, OpenAI's `echo` with `logprobs`), from transformers in float32.

    .venv-ref/bin/python scripts/reference/make_prompt_logprob_goldens.py

Needs models/smollm2-hf (scripts/reference/convert.sh smollm2). One full forward pass per prompt (no cache,
eager attention, two threads); row p of log_softmax(logits) scores token p + 1. The first token has no score
(null, as TGI reports it). Values are rounded to 5 decimals; `top` holds the 3 most likely tokens at each
scored position as [id, logprob].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from convert import MODELS, MODELS_DIR, ROOT  # noqa: E402
from make_goldens import dumps_compact, versions  # noqa: E402

PROMPTS = ["short_en", "chat_chatml", "code", "digits_whitespace"]
TOP = 3
DIGITS = 5
# Kiln's float32 reference path scores these prompts within 4.4e-5 nats of transformers (measured); the bound
# leaves room for a different but still float32 summation order, and is far below what a wrong row (an
# off-by-one position, a missed chunk) gives, which is several nats.
TOLERANCE = 0.002


def r(x) -> float:
    return round(float(x), DIGITS)


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(2)
    d = MODELS_DIR / MODELS["smollm2"]["out"]
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    prompts = {p["name"]: p["text"] for p in json.loads((ROOT / "Tests/goldens/prompts.json").read_text())}
    entries = []
    for name in PROMPTS:
        ids = tok(prompts[name])["input_ids"]
        logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        scored, top = [None], [None]
        for p in range(len(ids) - 1):
            scored.append(r(logprobs[p, ids[p + 1]]))
            values, indices = torch.topk(logprobs[p], TOP)
            top.append([[int(i), r(v)] for v, i in zip(values, indices)])
        entries.append({"name": name, "ids": ids, "logprobs": scored, "top": top})
        print(f"  {name}: {len(ids)} tokens")
    golden = {
        "model": "smollm2",
        "meta": {
            **versions(),
            "hf_dir": str(d.relative_to(ROOT)),
            "dtype": "float32",
            "attn_implementation": "eager",
            "decimals": DIGITS,
            "tolerance_nats": TOLERANCE,
        },
        "prompts": entries,
    }
    out = ROOT / "Tests/goldens/prompt_logprobs_smollm2.json"
    out.write_text(dumps_compact(golden) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
