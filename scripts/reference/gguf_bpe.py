"""A small, independent byte-level BPE tokenizer built from a GGUF file's own vocabulary.

It follows llama.cpp's rules for the GPT-2-style vocabularies Kiln is tested on (pre-tokenizer names
`smollm` and `qwen2`): special (control and user-defined) tokens are matched literally first, the rest
is split by the pre-tokenizer's regular expressions, mapped byte-to-unicode as GPT-2 does and merged by
merge rank. It exists only to cross-check the Hugging Face tokenizer that a GGUF converts to; it is slow
and makes no attempt to be clever.
"""

from __future__ import annotations

import unicodedata

import regex
from gguf import GGUFReader

# llama.cpp's pre-tokenizer expressions, applied one after another; each splits every piece that the
# previous one left into its matches and the unmatched text between them.
PRE_TOKENIZERS = {
    "smollm": [
        r"\p{N}",
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    ],
    "qwen2": [
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ],
}

# The original Qwen2.5 release normalizes its input with NFC before anything else.
NORMALIZE_NFC = {"qwen2"}

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _field_strings(reader: GGUFReader, key: str) -> list[str]:
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def _split_keep(text: str, pattern: regex.Pattern) -> list[str]:
    pieces, start = [], 0
    for m in pattern.finditer(text):
        if m.start() > start:
            pieces.append(text[start : m.start()])
        if m.end() > m.start():
            pieces.append(m.group())
        start = m.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


class GgufBpe:
    def __init__(self, gguf_path: str):
        reader = GGUFReader(gguf_path)
        model = bytes(reader.fields["tokenizer.ggml.model"].parts[-1]).decode()
        if model != "gpt2":
            raise ValueError(f"{gguf_path}: only byte-level BPE vocabularies are handled, not {model!r}")
        self.pre = bytes(reader.fields["tokenizer.ggml.pre"].parts[-1]).decode()
        if self.pre not in PRE_TOKENIZERS:
            raise ValueError(f"{gguf_path}: unknown pre-tokenizer {self.pre!r}")
        self.tokens = _field_strings(reader, "tokenizer.ggml.tokens")
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        merges = _field_strings(reader, "tokenizer.ggml.merges")
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        types = reader.fields["tokenizer.ggml.token_type"]
        token_types = [int(types.parts[i][0]) for i in types.data]
        specials = [
            t for t, kind in zip(self.tokens, token_types) if kind in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED)
        ]
        specials.sort(key=len, reverse=True)
        self.special_re = regex.compile("|".join(regex.escape(s) for s in specials)) if specials else None
        self.pre_res = [regex.compile(p) for p in PRE_TOKENIZERS[self.pre]]
        self.b2u = byte_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.cache: dict[str, list[int]] = {}

    def _bpe(self, word: str) -> list[int]:
        if word in self.cache:
            return self.cache[word]
        parts = [self.b2u[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best, best_rank = -1, None
            for i in range(len(parts) - 1):
                rank = self.ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        ids = [self.ids[p] for p in parts]
        self.cache[word] = ids
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        if self.pre in NORMALIZE_NFC:
            text = unicodedata.normalize("NFC", text)
        pieces = [text]
        for pattern in self.pre_res:
            pieces = [q for p in pieces for q in _split_keep(p, pattern)]
        return [i for p in pieces for i in self._bpe(p)]

    def encode(self, text: str) -> list[int]:
        """Token ids with special tokens parsed, no BOS or EOS added."""
        if self.special_re is None:
            return self._encode_plain(text)
        ids, start = [], 0
        for m in self.special_re.finditer(text):
            if m.start() > start:
                ids += self._encode_plain(text[start : m.start()])
            ids.append(self.ids[m.group()])
            start = m.end()
        if start < len(text):
            ids += self._encode_plain(text[start:])
        return ids

    def pieces(self, ids: list[int]) -> list[str]:
        """The decoded text of each token, for messages."""
        out = []
        for i in ids:
            t = self.tokens[i]
            try:
                out.append(bytes(self.u2b[c] for c in t).decode("utf-8", errors="replace"))
            except KeyError:
                out.append(t)
        return out
