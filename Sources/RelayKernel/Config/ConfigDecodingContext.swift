import Foundation
import Yams

/// Collects problems while a route file decodes, so one pass reports all of them, and supplies
/// environment overrides for each key the decoder asks for.
final class ConfigDecodingContext: @unchecked Sendable {
    static let userInfoKey = CodingUserInfoKey(rawValue: "relay.config.context")!

    private(set) var issues: [ConfigIssue] = []
    let environment: [String: String]
    let root: Node?

    init(environment: [String: String], root: Node?) {
        self.environment = environment
        self.root = root
    }

    func record(_ codingPath: [any CodingKey], _ message: String, aboutKey: Bool = false) {
        var issue = ConfigIssue(path: ConfigIssue.path(codingPath), message: message)
        issue.keyPath = codingPath.map { $0.intValue.map(AnyCodingKey.init(intValue:)) ?? AnyCodingKey($0.stringValue) }
        issue.isAboutKey = aboutKey
        self.issues.append(issue)
    }

    /// The issues with their line and column (from ``root``), in file order.
    func locatedIssues() -> [ConfigIssue] {
        var issues = self.issues
        for index in issues.indices {
            if let mark = self.locate(issues[index].keyPath, aboutKey: issues[index].isAboutKey) {
                issues[index].line = mark.line
                issues[index].column = mark.column
            }
        }
        return issues.sorted { lhs, rhs in
            (lhs.line ?? Int.max, lhs.column ?? 0) < (rhs.line ?? Int.max, rhs.column ?? 0)
        }
    }

    /// A sort key giving the file order of the node at `codingPath`.
    func order(of codingPath: [any CodingKey]) -> Int {
        guard let mark = self.locate(codingPath.map { AnyCodingKey($0.stringValue) }, aboutKey: true) else { return Int.max }
        return mark.line * 100_000 + mark.column
    }

    /// The position of the node at `path` (or of its deepest existing ancestor).
    func locate(_ path: [AnyCodingKey], aboutKey: Bool) -> Mark? {
        guard var node = self.root else { return nil }
        var keyMark: Mark? = node.mark
        for key in path {
            switch node {
            case .mapping(let mapping):
                guard let pair = mapping.first(where: { $0.key.string == key.stringValue }) else { return node.mark }
                keyMark = pair.key.mark
                node = pair.value
            case .sequence(let sequence):
                guard let index = key.intValue ?? Int(key.stringValue), sequence.indices.contains(index) else { return node.mark }
                keyMark = sequence[index].mark
                node = sequence[index]
            default:
                return node.mark
            }
        }
        return aboutKey ? keyMark : node.mark
    }

    /// Records a decoding error; `relative` errors carry paths below `codingPath`.
    func record(_ error: any Error, at codingPath: [any CodingKey], relative: Bool = false) {
        func place(_ path: [any CodingKey]) -> [any CodingKey] {
            relative ? codingPath + path : (path.isEmpty ? codingPath : path)
        }
        switch error {
        case DecodingError.typeMismatch(let type, let context):
            self.record(place(context.codingPath), "expected \(Self.describe(type))")
        case DecodingError.valueNotFound(let type, let context):
            self.record(place(context.codingPath), "expected \(Self.describe(type)), found null")
        case DecodingError.keyNotFound(let key, let context):
            self.record(place(context.codingPath + [key]), "missing key '\(key.stringValue)'")
        case DecodingError.dataCorrupted(let context):
            self.record(place(context.codingPath), context.debugDescription)
        case let error as RelayConfigError:
            // Problems a settings type collected when decoded on its own (``ConfigFields/finish()``).
            for issue in error.issues {
                self.record(place(issue.keyPath.map { $0 as any CodingKey }), issue.message, aboutKey: issue.isAboutKey)
            }
        default:
            self.record(codingPath, "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "\(type)".replacingOccurrences(of: "Swift.", with: "")
        }
    }

    /// The environment variable for a key path: `RELAY_` + upper snake case segments.
    static func environmentName(_ codingPath: [any CodingKey]) -> String {
        "RELAY_" + codingPath.map { key in key.intValue.map(String.init) ?? Self.upperSnake(key.stringValue) }.joined(separator: "_")
    }

    static func upperSnake(_ name: String) -> String {
        var result = ""
        var previous: Character?
        for character in name {
            if character == "-" || character == "." || character == " " {
                result.append("_")
            } else if character.isUppercase, let previous, previous.isLowercase || previous.isNumber {
                result.append("_")
                result.append(character)
            } else {
                result.append(contentsOf: character.uppercased())
            }
            previous = character
        }
        return result
    }
}

/// A coding key for any string or index.
struct AnyCodingKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) {
        self.stringValue = string
        self.intValue = nil
    }

    init(stringValue: String) { self.init(stringValue) }

    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}
