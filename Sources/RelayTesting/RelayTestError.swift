/// What a ``TestClient`` expectation found instead of what the test asked for.
public struct RelayTestError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, with the messages involved.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
