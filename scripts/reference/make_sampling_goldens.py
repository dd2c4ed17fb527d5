"""Writes Tests/goldens/sampling.json: what transformers' logits processors make of fixed logits, for KilnSampling.

    .venv-ref/bin/python scripts/reference/make_sampling_goldens.py

Logits are multiples of 1/256 (exact in float32 and in JSON) and distinct within a vector, so no truncation
boundary falls on a tie (Kiln keeps exactly k on top-k ties where transformers keeps them all). Every top-p and
typical-p cut is checked to lie at least 1e-4 of mass away from its threshold, so float32 rounding cannot move
it. Truncations are chained in Kiln's order (temperature, top-k, top-p, typical-p, min-p), each warper seeing
the scores the previous one left, as transformers chains them. Runs in a second; the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "goldens" / "sampling.json"


def f32(x) -> float:
    """The shortest decimal that reads back as the same float32."""
    return float(str(np.float32(x)))


def distinct_logits(rng: np.random.Generator, size: int, span: int) -> list[float]:
    """`size` distinct values k/256 with |k| < span, in random order."""
    ks = rng.choice(np.arange(-span, span), size=size, replace=False)
    return [float(k) / 256 for k in ks]


def leading_mass_margin(scores: torch.Tensor, order: torch.Tensor, fraction: float) -> float:
    """Smallest |mass before token − fraction| over tokens in `order` (float64), among finite scores."""
    p = torch.softmax(scores.double(), -1)[order]
    before = torch.cumsum(p, 0) - p
    finite = torch.isfinite(scores[order])
    return float((before[finite] - fraction).abs().min())


def chain(logits: list[float], temperature: float, top_k: int, top_p: float, typical_p: float, min_p: float):
    scores = torch.tensor([logits], dtype=torch.float32)
    ids = torch.zeros((1, 1), dtype=torch.long)
    scores = TemperatureLogitsWarper(temperature)(ids, scores)
    logprobs = torch.log_softmax(scores, -1)[0]
    if top_k:
        scores = TopKLogitsWarper(top_k)(ids, scores)
    if top_p < 1:
        order = torch.argsort(scores[0], descending=True)
        assert leading_mass_margin(scores[0], order, top_p) > 1e-4, "top_p boundary too close to a token"
        scores = TopPLogitsWarper(top_p)(ids, scores)
    if typical_p < 1:
        lp = torch.log_softmax(scores[0].double(), -1)
        entropy = -torch.nansum(lp * lp.exp())
        order = torch.argsort((-lp - entropy).abs())
        assert leading_mass_margin(scores[0], order, typical_p) > 1e-4, "typical_p boundary too close to a token"
        scores = TypicalLogitsWarper(typical_p)(ids, scores)
    if min_p > 0:
        scores = MinPLogitsWarper(min_p)(ids, scores)
    probs = torch.softmax(scores, -1)[0]
    survivors = [i for i in range(len(logits)) if torch.isfinite(scores[0, i])]
    top = torch.topk(logprobs, 5)
    return {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "typical_p": typical_p,
        "min_p": min_p,
        "survivors": survivors,
        "probs": [f32(probs[i]) for i in survivors],
        "logprobs": [f32(x) for x in logprobs] if len(logits) <= 64 else [],
        "top": [[int(i), f32(v)] for v, i in zip(top.values, top.indices)],
    }


def main() -> None:
    torch.set_num_threads(2)
    rng = np.random.default_rng(20240611)
    vectors = [distinct_logits(rng, 48, 1024) for _ in range(3)]
    vectors.append(distinct_logits(rng, 1000, 1024))  # flat enough that top-p needs hundreds of tokens

    repetition = []
    for v, penalty, input_ids in [
        (0, 1.25, [3, 7, 7, 12, 40, 3, 0]),
        (1, 0.75, [1, 2, 3, 5, 8, 13, 21, 34]),
        (2, 1.5, [47, 46, 45, 45, 45]),
    ]:
        scores = torch.tensor([vectors[v]], dtype=torch.float32)
        processed = RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor([input_ids]), scores)[0]
        repetition.append(
            {"logits": v, "penalty": penalty, "input_ids": input_ids, "processed": [f32(x) for x in processed]}
        )

    settings = [
        # temperature, top_k, top_p, typical_p, min_p
        (1.0, 5, 1.0, 1.0, 0.0),
        (1.0, 1, 1.0, 1.0, 0.0),
        (0.7, 0, 0.8, 1.0, 0.0),
        (1.3, 0, 1.0, 0.6, 0.0),
        (1.0, 0, 1.0, 1.0, 0.2),
        (0.9, 20, 0.9, 1.0, 0.0),
        (1.5, 30, 0.95, 0.9, 0.05),
        (2.0, 0, 0.5, 0.5, 0.1),
    ]
    truncation = []
    for v in range(3):
        for s in settings:
            truncation.append({"logits": v, **chain(vectors[v], *s)})
    for s in [(1.0, 0, 0.9, 1.0, 0.0), (1.0, 50, 1.0, 1.0, 0.0), (0.8, 0, 1.0, 0.7, 0.0), (1.0, 200, 0.6, 1.0, 0.0)]:
        truncation.append({"logits": 3, **chain(vectors[3], *s)})

    rows = torch.tensor([vectors[0], vectors[1], vectors[2]], dtype=torch.float32)
    tokens = [5, 17, 33]
    lp = torch.log_softmax(rows, -1)
    top = torch.topk(lp, 3, -1)
    prompt = {
        "rows": [0, 1, 2],
        "tokens": tokens,
        "logprobs": [f32(lp[r, t]) for r, t in enumerate(tokens)],
        "top": [[[int(i), f32(x)] for x, i in zip(top.values[r], top.indices[r])] for r in range(3)],
    }

    golden = {
        "meta": {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__},
        "logits": vectors,
        "repetition": repetition,
        "truncation": truncation,
        "prompt": prompt,
    }
    OUT.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(truncation)} truncation cases)")


if __name__ == "__main__":
    main()
