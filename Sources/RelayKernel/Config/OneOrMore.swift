/// A setting written as one value or as a list of them (`role: admin` or `role: [admin, ops]`).
///
/// ```swift
/// self.roles = fields.value(.role, default: OneOrMore(self.roles)).values
/// ```
public struct OneOrMore<Element: Decodable & Sendable>: Decodable, Sendable {
    /// The values, in the order written.
    public var values: [Element]

    /// Wraps `values`.
    public init(_ values: [Element]) {
        self.values = values
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer().decode(Element.self) {
            self.values = [single]
        } else {
            self.values = try decoder.singleValueContainer().decode([Element].self)
        }
    }
}
