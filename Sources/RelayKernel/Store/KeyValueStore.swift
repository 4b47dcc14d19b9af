/// A value held by a ``KeyValueStore`` with its version for compare-and-set.
public struct StoredValue: Sendable, Equatable {
    /// The value.
    public let value: JSONValue
    /// Increases on every write of the key.
    public let version: UInt64

    /// Creates a stored value.
    public init(value: JSONValue, version: UInt64) {
        self.value = value
        self.version = version
    }
}

/// Shared plugin state with expiry and compare-and-set.
///
/// The in-memory implementation serves one process; a cluster store implements the same
/// contract across nodes, so a plugin written against it works in both.
public protocol KeyValueStore: Sendable {
    /// The live value of `key`, or `nil` when absent or expired.
    func get(_ key: String) async throws -> StoredValue?

    /// Writes `value` whatever was there; returns the new version.
    @discardableResult
    func set(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64

    /// Writes `value` only if `key` is absent or expired; returns the version, or `nil` if taken.
    func insert(_ key: String, _ value: JSONValue, ttl: Duration?) async throws -> UInt64?

    /// Writes `value` only if the current version is `expected`; returns the new version or `nil`.
    func compareAndSet(_ key: String, expected: UInt64, _ value: JSONValue, ttl: Duration?) async throws -> UInt64?

    /// Removes `key`; returns whether it existed.
    @discardableResult
    func delete(_ key: String) async throws -> Bool

    /// Removes `key` only at version `expected`; returns whether it was removed.
    func delete(_ key: String, expected: UInt64) async throws -> Bool

    /// Live keys starting with `prefix`.
    func keys(withPrefix prefix: String) async throws -> [String]
}
