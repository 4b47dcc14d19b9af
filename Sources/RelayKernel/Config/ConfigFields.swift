import Yams

/// Reads the keys of one settings mapping: the kernel's sections and every plugin's
/// `Configuration` decode through it, so all of them report problems the same way.
///
/// Each key is read from the environment first (route file sections only), then the mapping,
/// then falls back to the default you pass, which is best the property's own initial value so
/// defaults live in one place. Unknown keys, ill-typed values and failed checks are *recorded*
/// instead of thrown, so one `relay check` lists every problem with its line, column and key
/// path. Call ``finish()`` last: when the type is decoded on its own (`JSONDecoder`, a test) it
/// throws every recorded problem as one ``RelayConfigError``; inside a route file or
/// ``ConfigDecoder`` it returns and the caller reports them.
///
/// ```swift
/// public struct Configuration: Decodable, Sendable {
///     public var maxOptions = 8
///     public var title = "Poll"
///
///     enum CodingKeys: String, CodingKey, CaseIterable { case maxOptions, title }
///
///     public init(from decoder: any Decoder) throws {
///         let fields = ConfigFields(decoder, keys: CodingKeys.self)
///         self.maxOptions = fields.value(.maxOptions, default: self.maxOptions)
///         self.title = fields.value(.title, default: self.title)
///         fields.check((2...64).contains(self.maxOptions), .maxOptions, "must be 2 to 64")
///         try fields.finish()
///     }
/// }
/// ```
public struct ConfigFields<Key: CodingKey & CaseIterable> {
    private let container: KeyedDecodingContainer<AnyCodingKey>?
    private let context: ConfigDecodingContext
    /// Whether this reader collects its own problems (decoded outside a route file).
    private let ownsContext: Bool
    private let codingPath: [any CodingKey]

    /// Starts reading the mapping `decoder` is at; records every key not in `keys` as unknown.
    /// A `null` or absent mapping reads as empty (every key takes its default).
    public init(_ decoder: any Decoder, keys: Key.Type) {
        if let shared = decoder.userInfo[ConfigDecodingContext.userInfoKey] as? ConfigDecodingContext {
            self.context = shared
            self.ownsContext = false
        } else {
            self.context = ConfigDecodingContext(environment: [:], root: nil)
            self.ownsContext = true
        }
        let context = self.context
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
            if (try? decoder.singleValueContainer().decodeNil()) != true {
                context.record(decoder.codingPath, "expected a mapping")
            }
            self.container = nil
        }
    }

    /// The value of `key`, or `defaultValue` when absent or invalid (the problem is recorded).
    public func value<T: Decodable>(_ key: Key, default defaultValue: T) -> T {
        self.optional(key) ?? defaultValue
    }

    /// The value of `key`; records "missing key" when absent, and returns `nil` when absent or
    /// invalid.
    public func required<T: Decodable>(_ key: Key) -> T? {
        let value: T? = self.optional(key)
        if value == nil, !self.isPresent(key) {
            self.context.record(self.codingPath + [AnyCodingKey(key.stringValue)], "missing key '\(key.stringValue)'")
        }
        return value
    }

    /// The value of `key`, or `nil` when absent or invalid (the problem is recorded).
    public func optional<T: Decodable>(_ key: Key) -> T? {
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

    /// Whether the mapping (or the environment) sets `key`.
    public func isPresent(_ key: Key) -> Bool {
        let anyKey = AnyCodingKey(key.stringValue)
        if self.context.environment[ConfigDecodingContext.environmentName(self.codingPath + [anyKey])] != nil { return true }
        return self.container?.contains(anyKey) ?? false
    }

    /// Records `message` as a problem of `key` unless `valid`.
    public func check(_ valid: Bool, _ key: Key, _ message: String) {
        if !valid { self.invalid(key, message) }
    }

    /// Records a validation problem at `key`.
    public func invalid(_ key: Key, _ message: String) {
        self.context.record(self.codingPath + [AnyCodingKey(key.stringValue)], message)
    }

    /// Records a problem `error` (e.g. thrown by another type's decoder) at this mapping.
    public func record(_ error: any Error) {
        self.context.record(error, at: self.codingPath)
    }

    /// Ends reading: outside a route file (or ``ConfigDecoder``), throws every problem recorded
    /// for this mapping and those below it as one ``RelayConfigError``.
    public func finish() throws(RelayConfigError) {
        guard self.ownsContext, !self.context.issues.isEmpty else { return }
        throw RelayConfigError(file: "", issues: self.context.issues)
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
