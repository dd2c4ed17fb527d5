/// Why a checkpoint file could not be read. Every case names the file and says what is wrong in words a person can
/// act on; `description` is what the command line prints.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
