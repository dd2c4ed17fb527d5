/// `tokenizer.ggml.pre` names → the pre-tokenizer steps of the tokenizer.json each name stands for.
///
/// llama.cpp records which Hugging Face pre-tokenizer a byte-level vocabulary was converted with by name;
/// the steps here are those tokenizer.json files' steps, so a GGUF file tokenizes as its original did.
extension PreTokenizerStep {
    /// Every name `ggufSteps` knows.
    static var ggufNames: [String] { Array(simple.keys) + Array(regexLists.keys) + ["falcon"] }

    static func ggufSteps(_ name: String) throws(TokenizerError) -> [PreTokenizerStep]? {
        if let steps = simple[name] { return steps }
        if let patterns = regexLists[name] {
            var steps: [PreTokenizerStep] = []
            for pattern in patterns {
                steps.append(.split(SplitRule(matcher: .regex(try Regex(pattern)), behavior: .isolated)))
            }
            return steps
        }
        if name == "falcon" {
            // Punctuation(Contiguous), ByteLevel's GPT-2 split, Digits, Split("[0-9][0-9][0-9]").
            return [
                .split(SplitRule.punctuation(.contiguous)), .pattern(.gpt2), .byteLevelAlphabet, .digitRuns,
                .split(SplitRule(matcher: .regex(try Regex("[0-9][0-9][0-9]")), behavior: .isolated)),
            ]
        }
        return nil
    }

    private static let simple: [String: [PreTokenizerStep]] = [
        "gpt2": [.pattern(.gpt2)], "gpt-2": [.pattern(.gpt2)], "default": [.pattern(.gpt2)],
        "mpt": [.pattern(.gpt2)], "olmo": [.pattern(.gpt2)], "jais": [.pattern(.gpt2)],
        "smollm": [.individualDigits, .pattern(.gpt2)], "starcoder": [.individualDigits, .pattern(.gpt2)],
        "refact": [.individualDigits, .pattern(.gpt2)], "command-r": [.individualDigits, .pattern(.gpt2)],
        "codeshell": [.individualDigits, .pattern(.gpt2)], "exaone": [.individualDigits, .pattern(.gpt2)],
        "minerva-7b": [.individualDigits, .pattern(.gpt2)],
        "qwen2": [.pattern(.qwen2)], "deepseek-r1-qwen": [.pattern(.qwen2)], "stablelm2": [.pattern(.qwen2)],
        "llama-bpe": [.pattern(.llama3)], "llama3": [.pattern(.llama3)], "llama-v3": [.pattern(.llama3)],
        "smaug-bpe": [.pattern(.llama3)], "dbrx": [.pattern(.llama3)], "falcon3": [.pattern(.llama3)],
        "chatglm-bpe": [.pattern(.llama3)],
    ]

    private static let regexLists: [String: [String]] = [
        "qwen35": [
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        ],
        "deepseek-llm": [
            "[\r\n]",
            #"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"#,
            #"\s?[!-/:-~！-／：-～‘-‟　-。]+"#,
            #"\s+$"#,
            "[一-龥ࠀ-一가-퟿]+",
            #"\p{N}+"#,
        ],
        "deepseek-coder": [
            "[\r\n]", #"\s?\p{L}+"#, #"\s?\p{P}+"#, "[一-龥ࠀ-一가-퟿]+", #"\p{N}"#,
        ],
    ]
}
