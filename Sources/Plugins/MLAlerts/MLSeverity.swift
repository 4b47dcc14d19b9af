/// An alert's severity.
enum MLSeverity: String, CaseIterable, Sendable {
    case low, medium, high, critical

    /// The accepted values, for error messages.
    static var list: String { Self.allCases.map(\.rawValue).joined(separator: "|") }
}
