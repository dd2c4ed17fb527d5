"""The fixed corpus of strings that the tokenizer goldens (Tests/goldens/tokenizer_<model>.json) encode.

Hand-written strings first, then systematic families (runs of whitespace, digit strings, ...). The
list is fully deterministic: same order and content on every run.
"""

from __future__ import annotations

LITERAL = [
    # plain English and punctuation
    "Hello",
    "Hello world",
    "Hello, world!",
    " Hello world",
    "hello WORLD Hello wOrLd",
    "The quick brown fox jumps over the lazy dog.",
    "A sentence. Another one! And a question? Yes...",
    "Tokenization is the first step of every language model.",
    "She said, \"It's fine,\" and left.",
    "(parentheses) [brackets] {braces} <angles>",
    "semi;colon:colon,comma.period!bang?question",
    "e-mail: someone@example.com, web: https://example.org/path?q=1&r=2#frag",
    "C:\\Users\\name\\file.txt and /usr/local/bin/tool",
    "--flag=value -x -- --",
    "***bold*** __under__ ~~strike~~ `code`",
    "# Heading\n\n- item one\n- item two\n\n> quote",
    "a",
    "I",
    " ",
    ".",
    "!",
    "?!?!",
    "....",
    "----------",
    "==========",
    "__init__",
    # contractions
    "I'm here, you're there, he's gone, we've won, they'll see, I'd go, don't, can't, won't.",
    "IT'S LOUD. YOU'RE LOUD. WE'VE BEEN LOUD. THEY'LL BE LOUD. I'D SAY. DON'T.",
    "It'S mIxEd: You'Re, We'Ve, They'Ll, I'D",
    "the cat's toy's owner's",
    "'s 't 're 've 'm 'll 'd",
    "rock 'n' roll",
    "'quoted' and ‘curly’ and “double curly”",
    # numbers
    "0",
    "7",
    "42",
    "123",
    "2024",
    "3.14159",
    "-17",
    "+1 (555) 010-9999",
    "1,000,000",
    "1.000.000,50",
    "1e10 2E-5 0x1F 0b1010 0o17",
    "v1.2.3-beta.4",
    "2024-03-15T12:34:56Z",
    "12:30pm",
    "100%",
    "$5.99 €4,50 £3 ¥500",
    "\n\n1.",
    "\n\n1. First\n2. Second\n3. Third",
    "1)a 2)b 3)c",
    "½ ¼",
    "½¼¾ ⅓ ⅔ ⅛",
    "x² + y³ = z⁴",
    "₀₁₂ subscript",
    "① ② ③",
    "Ⅳ Ⅻ roman numerals",
    "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits",
    "१२३ Devanagari digits",
    "１２３ fullwidth digits",
    "phone:5550100 zip:90210",
    "a1b2c3d4",
    "abc123def456",
    # accents, decomposed forms, other Latin
    "café naïve résumé façade coöperate",
    "Ærøskøbing, Straße, Ångström, Œuvre",
    "e\u0301",
    "cafe\u0301 vs caf\u00e9",
    "\u212b vs \u00c5 vs A\u030a",
    "n\u0303 a\u0308 o\u0302 u\u0300",
    "ﬁ ligature ﬀ",
    "Ｈｅｌｌｏ fullwidth",
    "İstanbul ıi Iİ",
    "Łódź Kraków Gdańsk",
    "Việt Nam, Tiếng Việt",
    "Ελληνικά: καλημέρα κόσμε",
    "Русский текст: привет, мир!",
    "Українська: Ґанок, їжак, є",
    "עברית: שלום עולם",
    "مرحبا بالعالم",
    "العربية: كتاب، قلم؛ ورقة؟",
    "Mixed العربية and English في جملة واحدة",
    "فارسی: سلام دنیا",
    "हिन्दी: नमस्ते दुनिया",
    "বাংলা: হ্যালো",
    "ไทย: สวัสดีชาวโลก",
    "ქართული: გამარჯობა",
    "Հայերեն: Բարեւ",
    "አማርኛ: ሰላም",
    # CJK
    "東京は日本の首都です。",
    "北京欢迎你！",
    "中文，标点。“引号”（括号）",
    "한국어: 안녕하세요 세계",
    "日本語とEnglishの混在テキスト123",
    "カタカナ ひらがな 漢字",
    "ｶﾀｶﾅ halfwidth",
    "𠀀𠀁 astral CJK",
    "龍龘𪚥",
    # emoji
    "🎉",
    "🎉🎉🎉",
    "👍🏽",
    "👍🏻👍🏼👍🏽👍🏾👍🏿",
    "👨‍👩‍👧‍👦",
    "👩‍💻 👨‍🚀 🧑‍🔬",
    "🏳️‍🌈 🏴‍☠️",
    "🇫🇷🇯🇵🇺🇸",
    "❤️ ❤ ♥️",
    "1️⃣ #️⃣ *️⃣",
    "😀 grinning, 😂 tears, 🤔 thinking",
    "emoji🙂inside🙃words",
    "☃ ☕ ⚡ ✓ ✗ ★ ☆",
    # symbols and odd characters
    "→ ← ↑ ↓ ⇒ ⇔ ∀ ∃ ∈ ∉ ∑ ∏ √ ∞ ≈ ≠ ≤ ≥",
    "α β γ δ ε θ λ μ π σ φ ω",
    "° ± × ÷ µ ¶ § © ® ™",
    "em—dash en–dash hyphen-minus minus−sign",
    "…ellipsis…",
    "non\u00a0breaking\u00a0space",
    "zero\u200bwidth\u200bspace",
    "soft\u00adhyphen",
    "left\u200eto\u200fright marks",
    "bom\ufeffinside",
    "tab\there",
    "nul-free control \x07 bell \x1b escape",
    "replacement \ufffd char",
    "private use \ue000\uf8ff",
    "\u2028line separator\u2029paragraph separator",
    # code
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "if x == 1 and y != 2 or not z:\n    pass",
    "fn main() { println!(\"Hello, {}!\", name); }",
    "let xs: [Int] = [1, 2, 3].map { $0 * 2 }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"box\"><p>Hi &amp; bye</p></div>",
    "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "x = a<<2 | b>>3 & ~c ^ d",
    "a += 1; b -= 2; c *= 3; d /= 4; e %= 5; f **= 6",
    "lambda x: x if x else None  # comment",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "    indented code\n        more indented\n\tTabbed",
    "@decorator\nclass Foo(Bar, metaclass=Meta):\n    ...",
    "const f = async (a, b) => await g(a ?? b);",
    "$ ls -la | grep '.py' > out.txt 2>&1",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "http://localhost:8080/v1/chat/completions",
    "regex: ^[a-z0-9_]+@[a-z]+\\.[a-z]{2,}$",
    "```python\nprint('hi')\n```",
    # literal special-token strings (each family's, and look-alikes)
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_end|><|im_end|>",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<bos>hello<eos>",
    "<pad><unk><mask>",
    "<end_of_turn>",
    "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
    "<|im_start|",
    "<im_start>",
    "< |im_start| >",
    "<|IM_START|>",
    "<repo_name>kiln<file_sep>main.swift",
    "<s>llama</s> [INST] hi [/INST]",
    "<table><tr><td>cell</td></tr></table>",
    "<|im_start|>user\n½ 12345 👨‍👩‍👧<|im_end|>",
    # mixed and long
    "The year 1999 had 365 days; 2000 had 366.",
    "Version 2.0.1 released on 2023-11-05 (build #4521).",
    "Ünïcödé wïth ëvërÿthïng: 日本 🎉 مرحبا 123 \t\n",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
    "aliquip ex ea commodo consequat.",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Supercalifragilisticexpialidocious!",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababababababababab",
    "the the the the the the the the",
    "ZZZZZZZZZZZZZZZZZZZZ",
    "x" * 100,
    "ab\n" * 10,
]


def families() -> list[str]:
    out = []
    # runs of spaces, alone and around words
    for n in range(1, 17):
        out.append(" " * n)
    for n in (1, 2, 3, 4, 5, 8, 16):
        out.append("a" + " " * n + "b")
        out.append(" " * n + "word")
        out.append("word" + " " * n)
    # newlines, carriage returns and tabs
    for n in range(1, 9):
        out.append("\n" * n)
    for n in (1, 2, 3, 4):
        out.append("line" + "\n" * n + "next")
        out.append("\t" * n + "x")
        out.append("x" + "\t" * n)
    out += ["\r\n", "a\r\nb", "\r\n\r\n", "\r", " \n \n ", "\n \n", " \t \t", "\t \n", "  \n\n  x", "x \n", "x  \n\ny"]
    # digit strings of every length, and with separators
    for n in range(1, 17):
        out.append("".join(str((i * 7 + 3) % 10) for i in range(n)))
    for n in (1, 2, 3, 4, 6, 9):
        out.append(" " + "9" * n)
        out.append("x" + "5" * n + "y")
    out += ["1 2 3", "1  2  3", "1\n2\n3", "1.2.3", "1,2,3", "(1)", "[12]", "{123}", "-1", "--1", "1--"]
    # spaces before punctuation and words
    out += [" .", "  .", " ,x", " !!", "a .b", "a  .b", " 'quote'", "  'twice'", " don't", "  don't"]
    return out


def corpus() -> list[str]:
    seen, out = set(), []
    for s in LITERAL + families():
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


if __name__ == "__main__":
    c = corpus()
    print(len(c), "strings")
