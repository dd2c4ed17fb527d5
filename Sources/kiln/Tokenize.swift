import ArgumentParser
import Foundation
import KilnModels
import KilnTokenizers

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn text into token ids, or token ids into text, with a checkpoint's tokenizer.",
        discussion: """
            Reads --input one line at a time. Encoding: each line is a JSON string; prints its ids as one JSON \
            array per line. Special-token text (such as <|im_end|>) in the strings becomes that token. With \
            --decode: each line is a JSON array of ids; prints the text as one JSON string per line. Only the \
            tokenizer is loaded, not the weights.
            """)

    @Option(name: [.customShort("m"), .long], help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(name: .shortAndLong, help: "File of JSON lines to read ('-' for standard input).")
    var input: String

    @Flag(help: "Encoding: add no special tokens (no BOS/CLS...). Decoding: leave special tokens out of the text.")
    var noSpecial = false

    @Flag(help: "Decode arrays of ids instead of encoding strings.")
    var decode = false

    func run() throws {
        let tokenizer = try reportingErrors { try TokenizerLoader.load(model) }
        let data = try reportingErrors { () throws -> Data in
            if input == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
            guard let data = FileManager.default.contents(atPath: input) else {
                throw ModelError(input, "cannot read the input file")
            }
            return data
        }
        var output = ""
        var lineNumber = 0
        for var line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let location = "\(input == "-" ? "stdin" : input):\(lineNumber)"
            output += try reportingErrors { try process(Data(line), tokenizer, location) } + "\n"
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }

    private func process(_ line: Data, _ tokenizer: Tokenizer, _ location: String) throws -> String {
        guard String(validating: line, as: UTF8.self) != nil else {
            throw ModelError(location, "the line is not valid UTF-8")
        }
        if decode {
            guard let items = try? JSONDecoder().decode([Double].self, from: line) else {
                throw ModelError(location, "not a JSON array of token ids (e.g. [1, 2, 3])")
            }
            var ids: [Int32] = []
            for (index, item) in items.enumerated() {
                guard let id = Int32(exactly: item), id >= 0, Int(id) < tokenizer.vocabularySize else {
                    throw ModelError(
                        location, "item \(index) (\(item)) is not a token id in 0..<\(tokenizer.vocabularySize)")
                }
                ids.append(id)
            }
            let text = tokenizer.decode(ids, skipSpecialTokens: noSpecial)
            let json = try JSONSerialization.data(
                withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes])
            return String(decoding: json, as: UTF8.self)
        }
        guard let text = try? JSONDecoder().decode(String.self, from: line) else {
            throw ModelError(location, "not a JSON string (each line must be one JSON string, e.g. \"Hello\")")
        }
        let ids = tokenizer.encode(text, addSpecialTokens: !noSpecial)
        return "[" + ids.map(String.init).joined(separator: ",") + "]"
    }
}
