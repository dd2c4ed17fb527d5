#!/usr/bin/env python3
"""Writes Tests/goldens/quant/*.json: raw GGUF block bytes and their dequantized floats, for Kiln's tests.

The oracle is gguf-py's `gguf.quants.dequantize` (the reference Python implementation shipped with llama.cpp).
For each format:
  * "quantized": seeded random floats quantized by gguf-py (for the formats it can quantize),
  * "random": seeded random raw block bytes with sane fp16 scales (every bit pattern of the quants occurs),
    plus a few edge blocks (zero, negative and subnormal scales),
  * "model:<file>": the first values of one row of a real tensor from the GGUFs under models/, when present.
Q8_1 and Q8_K have no dequantizer in gguf-py; their oracle is d * qs computed here with numpy.

Usage (from the repository root):
    python3 -m venv .venv-quant && .venv-quant/bin/pip install gguf numpy
    .venv-quant/bin/python scripts/reference/make_quant_goldens.py
Each file holds base64 of little-endian bytes: "bytes" (the blocks) and "floats" (float32 values).
"""
import base64
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "goldens", "quant")

# (type, block elements, block bytes, offsets of fp16 scale fields, offset of an f32 scale field)
FORMATS = [
    (T.F32, 1, 4, [], None),
    (T.F16, 1, 2, [], None),
    (T.BF16, 1, 2, [], None),
    (T.Q4_0, 32, 18, [0], None),
    (T.Q4_1, 32, 20, [0, 2], None),
    (T.Q5_0, 32, 22, [0], None),
    (T.Q5_1, 32, 24, [0, 2], None),
    (T.Q8_0, 32, 34, [0], None),
    (T.Q8_1, 32, 36, [0, 2], None),
    (T.Q2_K, 256, 84, [80, 82], None),
    (T.Q3_K, 256, 110, [108], None),
    (T.Q4_K, 256, 144, [0, 2], None),
    (T.Q5_K, 256, 176, [0, 2], None),
    (T.Q6_K, 256, 210, [208], None),
    (T.Q8_K, 256, 292, [], 0),
]
QUANTIZABLE = {T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}
MODELS = ["models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "models/gemma3/gemma-3-270m-q4_k_m.gguf"]


def oracle(raw: np.ndarray, qtype: T, block_bytes: int) -> np.ndarray:
    blocks = raw.reshape(-1, block_bytes)
    if qtype == T.Q8_1:  # d fp16 @0, s fp16 @2, qs i8 @4
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        return (d * blocks[:, 4:].copy().view(np.int8).astype(np.float32)).reshape(-1)
    if qtype == T.Q8_K:  # d f32 @0, qs i8 @4..260
        d = blocks[:, 0:4].copy().view(np.float32)
        return (d * blocks[:, 4:260].copy().view(np.int8).astype(np.float32)).reshape(-1)
    return dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)


def random_blocks(rng, qtype, n, block_bytes, half_fields, f32_field):
    raw = rng.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    if qtype in (T.F32,):
        return rng.standard_normal(n * 1).astype(np.float32).view(np.uint8).reshape(n, -1)
    if qtype in (T.F16, T.BF16):
        vals = (rng.standard_normal(n) * 3).astype(np.float32)
        if qtype == T.F16:
            return vals.astype(np.float16).view(np.uint8).reshape(n, -1)
        return (vals.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(n, -1)
    for b in range(n):
        for k, off in enumerate(half_fields):
            if b == 0:
                value = np.float16(0.0)
            elif b == 1:
                value = np.uint16(0x0003 + k).view(np.float16)  # subnormal
            else:
                value = np.float16(rng.uniform(-0.1, 0.1) * 10.0 ** rng.integers(-3, 1))
            raw[b, off:off + 2] = np.array([value], dtype=np.float16).view(np.uint8)
        if f32_field is not None:
            value = np.float32(0.0 if b == 0 else rng.uniform(-0.01, 0.01))
            raw[b, f32_field:f32_field + 4] = np.array([value], dtype=np.float32).view(np.uint8)
    return raw


_readers: dict = {}


def model_rows(qtype, block_elements, block_bytes, max_values=512):
    """(source, raw bytes) for the first row of the first tensor of `qtype` in each model file present."""
    out = []
    for rel in MODELS:
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            print(f"  (no {rel}; skipping its rows)", file=sys.stderr)
            continue
        if path not in _readers:
            _readers[path] = gguf.GGUFReader(path)
        reader = _readers[path]
        for t in reader.tensors:
            if t.tensor_type != qtype or len(t.shape) < 2:
                continue
            row = int(t.shape[0])  # GGUF lists the fastest-varying dimension first
            values = min(row, max_values) // block_elements * block_elements
            data = np.asarray(t.data).view(np.uint8).reshape(-1)
            out.append((f"model:{os.path.basename(rel)}:{t.name}", data[: values // block_elements * block_bytes]))
            break
    return out


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def main():
    os.makedirs(OUT, exist_ok=True)
    for qtype, be, bb, halves, f32 in FORMATS:
        rng = np.random.default_rng(1234 + int(qtype))
        cases = []
        if qtype in QUANTIZABLE:
            values = 512 if be == 32 else 64
            x = (rng.standard_normal(values) * rng.uniform(0.01, 2.0)).astype(np.float32)
            q = np.asarray(quantize(x.reshape(1, -1), qtype)).view(np.uint8).reshape(-1)
            cases.append(("quantized", q))
        n = {1: 64, 32: 12, 256: 5}[be]
        cases.append(("random", random_blocks(rng, qtype, n, bb, halves, f32).reshape(-1)))
        cases.extend(model_rows(qtype, be, bb))
        entries = []
        for source, raw in cases:
            raw = np.ascontiguousarray(raw, dtype=np.uint8)
            floats = oracle(raw, qtype, bb)
            assert floats.size == raw.size // bb * be
            assert np.all(np.isfinite(floats)), (qtype.name, source)
            oracle_name = "numpy d*qs" if qtype in (T.Q8_1, T.Q8_K) else "gguf.quants.dequantize"
            entries.append({"source": source, "oracle": oracle_name, "count": int(floats.size),
                            "bytes": b64(raw), "floats": b64(floats.astype("<f4"))})
        doc = {"type": qtype.name, "ggml_type": int(qtype), "block_elements": be, "block_bytes": bb,
               "gguf_version": getattr(gguf, "__version__", "unknown"), "cases": entries}
        with open(os.path.join(OUT, f"{qtype.name}.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(qtype.name, [(e["source"], e["count"]) for e in entries])


if __name__ == "__main__":
    main()
