import Foundation
import KilnSampling
import KilnTokenizers
import Testing

/// A vocabulary of the 256 single bytes plus end-of-sequence (id 256): matchers over it are the byte automaton.
let byteVocabulary = TokenVocabulary(tokenBytes: (0..<256).map { [UInt8($0)] } + [[]], endOfSequence: [256])
let byteCompiler = ConstraintCompiler(vocabulary: byteVocabulary)

/// Whether the automaton accepts `text` in full.
func accepts(_ constraint: CompiledConstraint, _ text: String) -> Bool {
    var m = constraint.makeMatcher()
    return m.accept(bytes: Array(text.utf8)) && m.isAccepting
}

/// Random texts the constraint allows, by walking allowed tokens (stopping at accepting states at random).
func samples(_ constraint: CompiledConstraint, count: Int, seed: UInt64, maxLength: Int = 300) -> [String] {
    var generator = SplitMix64(seed: seed)
    var out: [String] = []
    for _ in 0..<count {
        var m = constraint.makeMatcher()
        var bytes: [UInt8] = []
        while bytes.count < maxLength {
            let allowed = m.allowedTokens()
            let options = (0..<256).filter { allowed.allows(Int32($0)) }
            if allowed.allows(256) && (options.isEmpty || generator.next() % 4 == 0) {
                out.append(String(decoding: bytes, as: UTF8.self))
                break
            }
            guard !options.isEmpty else { break }
            // Prefer ASCII so walks stay readable and short.
            let ascii = options.filter { $0 < 128 }
            let pool = ascii.isEmpty || generator.next() % 8 == 0 ? options : ascii
            let byte = UInt8(pool[Int(generator.next() % UInt64(pool.count))])
            let accepted = m.accept(Int32(byte))
            #expect(accepted)
            bytes.append(byte)
        }
    }
    return out
}

@Suite struct RegexConstraintTests {
    static let patterns: [(String, String)] = [
        ("[a-c]+x?", "abcx"), ("(ab|a)*b", "ab"), ("a{2,4}b{0,2}", "ab"), ("[0-9]{3}-[0-9]{2,}", "0123-"),
        ("\\d+(\\.\\d{1,2})?", "09."), ("[^a]b", "abc"), ("(foo|bar|baz)(,(foo|bar))*", "fobarz,"),
        ("\\w+@\\w+\\.com", "a@.com_"), ("x(y(z)?)+", "xyz"), ("[a-]+", "a-b"), ("\\s*[A-Z][a-z]*", " Aa\t"),
        ("(a|b|)c", "abc"), ("[.]*\\.", "."), ("(?:ab){1,3}", "ab"), ("^a+b$", "ab"), ("((a?)*)b", "ab"),
        ("[\\-+]?0x[0-9a-fA-F]{1,4}", "-+0x1aF"), ("é+[αβ]", "éαβ"),
    ]

    /// Full match against Swift's own Regex on random strings and on strings the automaton generates.
    @Test(arguments: 0..<patterns.count) func matchesSwiftRegex(index: Int) throws {
        let (pattern, alphabet) = Self.patterns[index]
        let constraint = try byteCompiler.compile(.regex(pattern))
        let oracle = try Regex(pattern)
        var generator = SplitMix64(seed: UInt64(index))
        let letters = Array(alphabet)
        var texts: [String] = samples(constraint, count: 40, seed: UInt64(index), maxLength: 40)
        for _ in 0..<400 {
            let length = Int(generator.next() % 8)
            texts.append(String((0..<length).map { _ in letters[Int(generator.next() % UInt64(letters.count))] }))
        }
        for text in texts {
            let expected = (try? oracle.wholeMatch(in: text)) != nil
            #expect(accepts(constraint, text) == expected, "/\(pattern)/ on \"\(text)\"")
        }
    }

    @Test func rejectsUnsupportedSyntaxByName() {
        for (pattern, word) in [("(?=a)b", "lookaround"), ("(a)\\1", "backreference"), ("a\\bb", "assertion")] {
            #expect {
                try byteCompiler.compile(.regex(pattern))
            } throws: { error in
                "\(error)".contains(word)
            }
        }
        #expect(throws: ConstraintError.self) { try byteCompiler.compile(.regex("(ab")) }
        #expect(throws: ConstraintError.self) { try byteCompiler.compile(.regex("a{99999}")) }
    }
}

@Suite struct TokenMaskTests {
    /// A vocabulary of random multi-byte tokens; every allowed set is checked against trying each token alone.
    @Test func allowedTokensMatchBruteForce() throws {
        var generator = SplitMix64(seed: 7)
        let alphabet = Array("{}[]\":,0123456789-.abcnulltrue ".utf8)
        var tokens: [[UInt8]] = []
        for _ in 0..<3000 {
            let length = 1 + Int(generator.next() % 5)
            tokens.append((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
        }
        tokens += alphabet.map { [$0] }
        tokens.append([])  // end of sequence
        let eos = Int32(tokens.count - 1)
        let compiler = ConstraintCompiler(vocabulary: TokenVocabulary(tokenBytes: tokens, endOfSequence: [eos]))
        let schema =
            #"{"type":"object","properties":{"a":{"type":"integer","minimum":-20,"maximum":300},"#
            + #""b":{"type":"array","items":{"enum":["abc",null,true]},"maxItems":3}},"required":["a"]}"#
        for spec in [ConstraintSpec.jsonSchema(schema), .anyJSON, .regex("[0-9]+(,[0-9]+)*")] {
            let constraint = try compiler.compile(spec)
            var m = constraint.makeMatcher()
            for _ in 0..<25 {
                let allowed = m.allowedTokens()
                var chosen: [Int32] = []
                for id in 0..<Int32(tokens.count) {
                    var probe = m
                    let expected = id == eos ? probe.isAccepting : probe.accept(bytes: tokens[Int(id)])
                    #expect(
                        allowed.allows(id) == expected,
                        "\(spec) token \(id) \(String(decoding: tokens[Int(id)], as: UTF8.self))")
                    if expected && id != eos { chosen.append(id) }
                }
                guard !chosen.isEmpty else { break }
                let accepted = m.accept(chosen[Int(generator.next() % UInt64(chosen.count))])
                #expect(accepted)
            }
        }
    }

    @Test func completeMatchAllowsOnlyEndOfSequence() throws {
        let constraint = try byteCompiler.compile(.choice(["yes", "no"]))
        var m = constraint.makeMatcher()
        let accepted = m.accept(bytes: Array("no".utf8))
        #expect(accepted)
        let allowed = m.allowedTokens()
        #expect((0..<257).filter { allowed.allows(Int32($0)) } == [256])
    }
}

@Suite struct JSONSchemaConstraintTests {
    func parse(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// Integer bounds are exact: every integer near the bounds is accepted exactly when it is inside them.
    @Test(arguments: [(-15, 7), (0, 0), (3, 1234), (-1005, -99), (10, 99), (-1, 100_000)])
    func integerRangesAreExact(bounds: (Int, Int)) throws {
        let (lo, hi) = bounds
        let constraint = try byteCompiler.compile(
            .jsonSchema(#"{"type":"integer","minimum":\#(lo),"maximum":\#(hi)}"#))
        for v in Array((lo - 30)...(lo + 30)) + Array((hi - 30)...(hi + 30)) {
            #expect(accepts(constraint, String(v)) == (lo...hi).contains(v), "\(v) in \(lo)...\(hi)")
        }
        #expect(!accepts(constraint, "01"))
        #expect(!accepts(constraint, "-0"))
    }

    @Test func numberBoundsHoldOnSamples() throws {
        let constraint = try byteCompiler.compile(
            .jsonSchema(#"{"type":"number","exclusiveMinimum":-2.5,"maximum":3}"#))
        for text in samples(constraint, count: 200, seed: 3) {
            let v = try #require(Double(text), "\(text)")
            #expect(v > -2.5 && v <= 3, "\(text)")
        }
    }

    @Test func objectsHaveRequiredPropertiesAndParse() throws {
        let schema = """
            {"type":"object","properties":{"id":{"type":"integer","minimum":1},"name":{"type":"string","maxLength":5},
             "tags":{"type":"array","items":{"enum":["a","b\\"c"]},"minItems":1,"maxItems":2},
             "when":{"type":"string","format":"date"},"next":{"$ref":"#"}},"required":["id","name"]}
            """
        let constraint = try byteCompiler.compile(.jsonSchema(schema))
        for text in samples(constraint, count: 100, seed: 11, maxLength: 400) {
            let object = try #require(parse(text) as? [String: Any], "\(text)")
            #expect(object["id"] is Int && object["name"] is String, "\(text)")
            if let tags = object["tags"] as? [String] {
                #expect((1...2).contains(tags.count) && tags.allSatisfy { ["a", "b\"c"].contains($0) }, "\(text)")
            }
            #expect(((object["name"] as? String)?.count ?? 99) <= 5, "\(text)")
        }
        #expect(accepts(constraint, #"{"id":3,"name":"x","next":{"id":1,"name":""}}"#))
        #expect(!accepts(constraint, #"{"name":"x"}"#))
        #expect(!accepts(constraint, #"{"id":3,"name":"x","tags":[]}"#))
    }

    @Test func anyJSONParses() throws {
        let constraint = try byteCompiler.compile(.anyJSON)
        for text in samples(constraint, count: 200, seed: 5) {
            #expect(parse(text) != nil, "\(text)")
        }
    }

    @Test func unsupportedKeywordsAndLimitsAreNamed() {
        let cases: [(String, String)] = [
            (#"{"type":"array","uniqueItems":true}"#, "uniqueItems"),
            (#"{"type":"string","format":"email"}"#, "email"),
            (#"{"$ref":"https://example.com/s.json"}"#, "https://example.com/s.json"),
            (#"{"type":"string","maxLength":1000000}"#, "maxLength"),
            (#"{"type":"object","properties":{"a":{"patternProperties":{}}}}"#, "patternProperties"),
            (#"{"type":"integer","minimum":5,"maximum":1}"#, "bounds"),
        ]
        for (schema, word) in cases {
            #expect {
                try byteCompiler.compile(.jsonSchema(schema))
            } throws: { error in
                "\(error)".contains(word)
            }
        }
    }
}

@Suite struct GBNFConstraintTests {
    /// A GBNF grammar and the regex for the same language accept the same strings.
    @Test func agreesWithEquivalentRegex() throws {
        let grammar = """
            # comma-separated small numbers in brackets
            root ::= "[" ( num ( "," num )* )? "]"
            num  ::= "-"? [1-9] [0-9]{0,2} | "0"
            """
        let g = try byteCompiler.compile(.grammar(grammar))
        let r = try byteCompiler.compile(.regex("\\[((-?[1-9][0-9]{0,2}|0)(,(-?[1-9][0-9]{0,2}|0))*)?\\]"))
        var generator = SplitMix64(seed: 9)
        let letters = Array("[],-0123")
        var texts = samples(g, count: 100, seed: 1) + samples(r, count: 100, seed: 2)
        for _ in 0..<500 {
            texts.append(String((0..<Int(generator.next() % 9)).map { _ in letters[Int(generator.next() % 8)] }))
        }
        for text in texts { #expect(accepts(g, text) == accepts(r, text), "\(text)") }
    }

    /// Recursion (balanced parentheses), which no regex can express, against a counter.
    @Test func recursiveGrammar() throws {
        let g = try byteCompiler.compile(.grammar("root ::= item*\nitem ::= \"(\" root \")\" | \"x\""))
        var generator = SplitMix64(seed: 4)
        for _ in 0..<500 {
            let text = String((0..<Int(generator.next() % 10)).map { _ in Array("()x")[Int(generator.next() % 3)] })
            var depth = 0
            var balanced = true
            for c in text {
                depth += c == "(" ? 1 : c == ")" ? -1 : 0
                if depth < 0 { balanced = false }
            }
            #expect(accepts(g, text) == (balanced && depth == 0), "\(text)")
        }
    }

    @Test func errorsNameTheRule() {
        for (text, word) in [
            ("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"", "expr"), ("root ::= missing", "missing"),
            ("start ::= \"a\"", "root"),
        ] {
            #expect {
                try byteCompiler.compile(.grammar(text))
            } throws: { error in
                "\(error)".contains(word)
            }
        }
    }
}

@Suite struct RealVocabularyMaskTests {
    /// SmolLM2's byte-level BPE vocabulary: along a walk through a schema, each allowed set equals trying every one
    /// of the 49,152 tokens alone, special tokens are never allowed, and end-of-sequence only when complete.
    @Test func smolLM2MasksMatchBruteForce() throws {
        let path = packageRoot() + "/models/smollm2-hf/tokenizer.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            if ProcessInfo.processInfo.environment["KILN_REQUIRE_MODELS"] != nil { Issue.record("missing \(path)") }
            return
        }
        let tokenizer = try Tokenizer.fromTokenizerJSON(data, config: nil)
        let eos = try #require(tokenizer.token(for: "<|im_end|>"))
        let vocabulary = TokenVocabulary(tokenizer: tokenizer, endOfSequence: [eos])
        let compiler = ConstraintCompiler(vocabulary: vocabulary)
        let schema =
            #"{"type":"object","properties":{"city":{"type":"string","maxLength":6},"#
            + #""n":{"type":"integer","minimum":-3,"maximum":40}},"required":["city","n"]}"#
        let constraint = try compiler.compile(.jsonSchema(schema))
        var m = constraint.makeMatcher()
        var generator = SplitMix64(seed: 1)
        var text = ""
        for _ in 0..<12 {
            let allowed = m.allowedTokens()
            var live: [Int32] = []
            for id in 0..<Int32(vocabulary.size) {
                var probe = m
                let bytes = tokenizer.tokenBytes(id)
                let expected =
                    id == eos
                    ? probe.isAccepting : !tokenizer.isSpecial(id) && !bytes.isEmpty && probe.accept(bytes: bytes)
                if allowed.allows(id) != expected {
                    Issue.record(
                        "after \(text): token \(id) \(tokenizer.tokenText(id) ?? "") allowed \(allowed.allows(id))")
                    return
                }
                if expected && id != eos { live.append(id) }
            }
            guard !live.isEmpty else { break }
            let next = live[Int(generator.next() % UInt64(live.count))]
            let accepted = m.accept(next)
            #expect(accepted)
            text += String(decoding: tokenizer.tokenBytes(next), as: UTF8.self)
        }
        #expect(text.hasPrefix("{\"city\":\""), "\(text)")
    }
}
