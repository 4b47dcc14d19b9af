/// One problem found in a route file, with where it is.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// The dotted key path, e.g. `routes[3].plugin`.
    public internal(set) var path: String
    /// What is wrong.
    public let message: String
    /// 1-based line, when known.
    public var line: Int?
    /// 1-based column, when known.
    public var column: Int?
    /// The key path as coding keys, for locating the issue in the file.
    var keyPath: [AnyCodingKey] = []
    /// Whether the issue is about the key itself (an unknown key) rather than its value.
    var isAboutKey = false

    /// Creates an issue.
    public init(path: String, message: String, line: Int? = nil, column: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
        self.column = column
    }

    /// `line:column: path: message` (position omitted when unknown).
    public var description: String {
        let location = self.line.map { "\($0):\(self.column ?? 1): " } ?? ""
        let path = self.path.isEmpty ? "" : "\(self.path): "
        return "\(location)\(path)\(self.message)"
    }

    /// The dotted path of a coding path.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }
}

/// All the problems of a route file; `relay check` prints each one.
public struct RelayConfigError: Error, Sendable, CustomStringConvertible {
    /// The file the issues are about (empty for in-memory text).
    public let file: String
    /// Every issue found, in file order where known.
    public let issues: [ConfigIssue]

    /// Creates the error.
    public init(file: String, issues: [ConfigIssue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        self.issues.map { self.file.isEmpty ? $0.description : "\(self.file):\($0.description)" }.joined(separator: "\n")
    }
}
