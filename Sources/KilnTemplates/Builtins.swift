import Foundation

/// The global functions a chat template can call: Jinja2's `range`, `namespace`, `dict`, and the ones
/// transformers adds (`raise_exception`, `strftime_now`).
enum Builtins {
    static let names: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now", "lipsum"]

    static func call(_ name: String, _ a: CallArguments, line: Int) throws -> Value {
        switch name {
        case "raise_exception":
            throw TemplateError(.raised, line: line, a[0, "message"]?.pythonString ?? "")
        case "range":
            let ints = a.positional.compactMap(\.integer)
            guard ints.count == a.positional.count, (1...3).contains(ints.count) else {
                throw TemplateError(.runtime, line: line, "range() takes 1 to 3 integer arguments")
            }
            let (start, stop, step) =
                ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw TemplateError(.runtime, line: line, "range() arg 3 must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= 100_000 else { throw TemplateError(.runtime, line: line, "range too big") }
            return .array((0..<count).map { .int(start + $0 * step) })
        case "namespace", "dict":
            var attributes = OrderedObject()
            for value in a.positional {
                guard case .object(let o) = value else {
                    throw TemplateError(.runtime, line: line, "\(name)() takes a mapping or keyword arguments")
                }
                for (k, v) in o.pairs { attributes[k] = v }
            }
            for (k, v) in a.keyword { attributes[k] = v }
            if name == "dict" { return .object(attributes) }
            if let bad = attributes.keys.first(where: { $0.hasPrefix("_") }) {
                throw TemplateError(.runtime, line: line, "cannot store underscore-prefixed attribute '\(bad)' on a namespace")
            }
            return .namespace(Namespace(attributes))
        case "strftime_now":
            return .string(strftimeNow(a[0, "format"]?.pythonString ?? ""))
        case "lipsum":
            throw TemplateError(.runtime, line: line, "lipsum() is not supported")
        default:
            throw TemplateError(.runtime, line: line, "'\(name)' is undefined")
        }
    }

    /// `datetime.now().strftime(format)` in local time.
    static func strftimeNow(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [UInt8](repeating: 0, count: 512)
        let written = buffer.withUnsafeMutableBufferPointer { out in
            out.withMemoryRebound(to: CChar.self) { strftime($0.baseAddress, $0.count, format, &parts) }
        }
        return String(decoding: buffer[..<written], as: UTF8.self)
    }
}
