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

/// Reads the keys of one mapping of a route file: environment first, then the file, then the
/// default; records unknown keys and ill-typed values instead of throwing.
struct ConfigFields<Key: CodingKey & CaseIterable> {
    private let container: KeyedDecodingContainer<AnyCodingKey>?
    private let context: ConfigDecodingContext
    private let codingPath: [any CodingKey]

    init(_ decoder: any Decoder, keys: Key.Type) {
        guard let context = decoder.userInfo[ConfigDecodingContext.userInfoKey] as? ConfigDecodingContext else {
            preconditionFailure("route file types decode only through RouteFileDecoder")
        }
        self.context = context
        self.codingPath = decoder.codingPath
        do {
            let container = try decoder.container(keyedBy: AnyCodingKey.self)
            let known = Set(Key.allCases.map(\.stringValue))
            for key in container.allKeys where !known.contains(key.stringValue) {
                context.record(
                    decoder.codingPath + [key],
                    "unknown key '\(key.stringValue)' (known: \(Key.allCases.map(\.stringValue).joined(separator: ", ")))",
                    aboutKey: true
                )
            }
            self.container = container
        } catch {
            if (try? decoder.singleValueContainer().decodeNil()) == true {
                self.container = nil
            } else {
                context.record(decoder.codingPath, "expected a mapping")
                self.container = nil
            }
        }
    }

    /// The value of `key`, or `defaultValue` when absent or invalid (the problem is recorded).
    func value<T: Decodable>(_ key: Key, default defaultValue: T) -> T {
        self.optional(key) ?? defaultValue
    }

    /// The value of `key`; records "missing key" when absent.
    func required<T: Decodable>(_ key: Key) -> T? {
        let value: T? = self.optional(key)
        if value == nil, !self.isPresent(key) {
            self.context.record(self.codingPath + [AnyCodingKey(key.stringValue)], "missing key '\(key.stringValue)'")
        }
        return value
    }

    /// The value of `key`, or `nil` when absent or invalid (the problem is recorded).
    func optional<T: Decodable>(_ key: Key) -> T? {
        let anyKey = AnyCodingKey(key.stringValue)
        let path = self.codingPath + [anyKey]
        if let text = self.context.environment[ConfigDecodingContext.environmentName(path)] {
            return self.decodeEnvironment(T.self, text, path: path)
        }
        guard let container = self.container, container.contains(anyKey) else { return nil }
        do {
            return try container.decodeIfPresent(T.self, forKey: anyKey)
        } catch {
            self.context.record(error, at: path)
            return nil
        }
    }

    /// Whether the file (or the environment) sets `key`.
    func isPresent(_ key: Key) -> Bool {
        let anyKey = AnyCodingKey(key.stringValue)
        if self.context.environment[ConfigDecodingContext.environmentName(self.codingPath + [anyKey])] != nil { return true }
        return self.container?.contains(anyKey) ?? false
    }

    /// Records a validation problem at `key`.
    func invalid(_ key: Key, _ message: String) {
        self.context.record(self.codingPath + [AnyCodingKey(key.stringValue)], message)
    }

    private func decodeEnvironment<T: Decodable>(_ type: T.Type, _ text: String, path: [any CodingKey]) -> T? {
        if let string = text as? T { return string }
        do {
            return try YAMLDecoder().decode(T.self, from: text, userInfo: [ConfigDecodingContext.userInfoKey: self.context])
        } catch {
            self.context.record(path, "environment variable \(ConfigDecodingContext.environmentName(path)): cannot read '\(text)' as \(ConfigDecodingContext.describe(T.self))")
            return nil
        }
    }
}
