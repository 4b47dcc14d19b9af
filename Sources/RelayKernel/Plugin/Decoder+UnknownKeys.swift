extension Decoder {
    /// Throws for any key of the current mapping that is not one of `keys`, so a typo in a
    /// plugin's settings is an error `relay check` reports instead of a silently ignored key.
    ///
    /// ```swift
    /// public init(from decoder: any Decoder) throws {
    ///     try decoder.rejectUnknownKeys(CodingKeys.self)
    ///     let container = try decoder.container(keyedBy: CodingKeys.self)
    ///     …
    /// }
    /// ```
    @available(*, deprecated, message: "read settings with ConfigFields: it refuses unknown keys and reports every problem at once")
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "unknown key '\(key.stringValue)' (known: \(known.joined(separator: ", ")))"
            )
        }
    }
}
