"""Tokenizer goldens for KilnTokenizersTests, from Hugging Face `tokenizers` as the oracle.

    .venv-tok/bin/python scripts/reference/make_tokenizer_goldens_dev.py [OUT_DIR]

Reads models/<name>-hf/tokenizer.json (the repaired conversions made by scripts/reference/convert.py)
and writes OUT_DIR/tokenizer_dev_<name>.json (default Tests/goldens) with, for every test string: ids
with special tokens added, ids without, ids with special-token text treated as plain text, and the
decoded text of each. The strings are hand-picked traps (digits, contractions, whitespace runs, NFC,
scripts where canonically-equivalent tokens exist, special-token text, byte fallback) plus a seeded
random mix of character classes.
"""

import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["smollm2", "qwen2.5", "gemma3"]

HAND_PICKED = [
    "", " ", "  ", "   ", "\n", "\n\n", "\n\n1.", "\t", " \t \n", "a", "Hello world", " Hello world",
    "Hello  world", "Hello   world  ", "hello\n\nworld\n", "Hello, world! How are you?",
    "The year 2024 had 366 days; 3.14159 is pi, 1,000,000 is a million.", "1234567890", " 12 345 6789",
    "½ ¼ ¾ ² ³ ① ⅷ", "Ⅻ and ⅻ", "١٢٣ ४५६ 七八九",
    "I'm you're he's we've they'll I'd don't", "I'M YOU'RE HE'S WE'VE THEY'LL I'D DON'T", "'s 't 're 've 'm 'll 'd",
    "''s '''t ' s", "naïve café résumé", "nai\u0308ve cafe\u0301 re\u0301sume\u0301", "e\u0301\u0301\u0301",
    "\u212b \u2126 \u0958\u095f", "Ångström Ωmega", "ſ 'ſ 'S 'ſt", "\u212a Kelvin", "Straße STRASSE",
    "日本語のテキストです。中文文本。한국어 텍스트.", "Русский текст, ελληνικά, עברית, العربية",
    "हिन्दी में लिखा गया पाठ। य़ ड़ य़ ड़", "বাংলা য় য়", "ภาษาไทย", "emoji 😀👍🏽👨‍👩‍👧 🇫🇷 done",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝓜𝓪𝓽𝓱", "zero\u200bwidth\u200cjoin\u200d", "nbsp\u00a0here\u3000ideographic\u2003em",
    "tab\tsep\tvalues\n", "CRLF\r\nline\r\n\r\nend\r", "\r\r\n\n\r", "form\x0cfeed\x0bvtab",
    "ctl\x1c\x1d\x1e\x1fsep", "nel\x85line\u2028sep\u2029par", "\x00\x01\x02 bytes \x7f",
    "def foo(x):\n    return x * 2  # double\n", "if (a && b) { c++; } else { d--; }",
    "    indented\n        more\n\t\tmixed", "x = [1, 2, 3]\nprint(f\"{x!r}\")",
    "<html><body><h1>Title</h1><p>para</p></body></html>", "<table><tr><td>1</td></tr></table>",
    "https://example.com/path?query=1&b=2#frag", "user@example.com", "#hashtag @mention $100 50% ~tilde",
    "!!!???...,,,;;;:::", "----====____", "a--b__c..d", "...", "—–-‒―", "«quoted» “curly” ‘single’",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>", "a<|endoftext|>b",
    "<|im_end|><|im_end|>", "<|im_start", "<|fim_prefix|>code<|fim_suffix|><|fim_middle|>",
    "<tool_call>{}</tool_call>", "<bos>text<eos>", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<pad><unk><mask>", "[multimodal]", "<start_of_image>", "<unused0><unused99>", "<b>bold</b> <i>it</i>",
    "<0x41> <0xE2>", "▁already▁has▁metaspace", " ▁ ▁▁ ", "\u2581", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ababababababababababababab", "               many spaces               ", "\n\n\n\n\n\n\n\n\n\n",
    "\t\t\t\t\t\t", " \n \n \n", "trailing space ", " leading", "word\u00adsoft\u00adhyphen",
    "mixed123abc456", "abc123", "123abc", "3rd 2nd 1st 21st", "v1.2.3-beta+build.5", "0x1F 0b1010 1e-9",
    "Ⅰ Ⅱ Ⅲ", "٣.١٤", "𝟙𝟚𝟛", "꧑꧒", "ﬁ ﬂ ﬀ", "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ", "¡Hola! ¿Qué tal?", "Ça va? Œuvre",
    "Zürich Köln Øresund Łódź", "Ǆ ǅ ǆ ǈ", "ⁱⁿ ₁₂", "🙂" * 5, "a\u0300\u0301\u0302\u0303b", "\ufeffBOM",
    "\ud7ff\ue000\uf8ff", "\U0001f600\U0001f601", "\U000e0041tag", "x" * 300, "the " * 80,
]

CLASSES = [
    "abcdefghijklmnopqrstuvwxyzABCXYZ", "0123456789", " ", "\n\r\t", "'", ".,;:!?-_()[]{}<>/\\\"@#$%^&*+=|~`",
    "éèàüößçñøåæ", "日本語中文한국어", "русскийтекст", "हिन्दीয়ड़", "😀👍🏽🇫🇷", "½²①Ⅻ", "\u0301\u0308",
    "\u00a0\u3000\u2003\u200b", "▁", "ſK",
]


def random_strings(count: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            chars = rng.choice(CLASSES)
            parts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 6))))
        out.append("".join(parts))
    return out


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "Tests" / "goldens"
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = HAND_PICKED + random_strings(300 - len(HAND_PICKED))
    for name in MODELS:
        tokenizer = Tokenizer.from_file(str(ROOT / "models" / f"{name}-hf" / "tokenizer.json"))
        plain = Tokenizer.from_file(str(ROOT / "models" / f"{name}-hf" / "tokenizer.json"))
        plain.encode_special_tokens = True
        cases = []
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=True).ids
            cases.append({
                "text": text,
                "ids": ids,
                "ids_no_special": tokenizer.encode(text, add_special_tokens=False).ids,
                "ids_plain": plain.encode(text, add_special_tokens=False).ids,
                "decoded": tokenizer.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
            })
        path = out_dir / f"tokenizer_dev_{name}.json"
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"model": name, "oracle": "tokenizers", "cases": cases}, f, ensure_ascii=True, separators=(",", ":"))
        print(path, len(cases))


if __name__ == "__main__":
    main()
