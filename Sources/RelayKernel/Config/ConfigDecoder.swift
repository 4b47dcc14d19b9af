import Yams

/// Decodes settings (a plugin's `Configuration`, or a kernel section such as ``LimitSettings``)
/// outside a route file, reporting every problem with its key path, and its line and column
/// when decoded from YAML text, exactly as `relay check` does.
///
/// ```swift
/// let configuration = try ConfigDecoder.decode(PollsPlugin.Configuration.self, yaml: """
///     maxOptions: 4
///     title: Lunch
///     """)
/// ```
///
/// The kernel decodes every plugin's settings (`plugins.<instance>.config`) through it.
public enum ConfigDecoder {
    /// Decodes `type` from YAML (or JSON) text; throws every problem found, in file order.
    public static func decode<T: Decodable>(_ type: T.Type, yaml: String, file: String = "") throws(RelayConfigError) -> T {
        let root: Node
        do {
            root = try Yams.compose(yaml: yaml) ?? Node([(Node, Node)]())
        } catch let error as YamlError {
            throw RelayConfigError(file: file, issues: [RouteFile.issue(from: error)])
        } catch {
            throw RelayConfigError(file: file, issues: [ConfigIssue(path: "", message: "\(error)")])
        }
        let context = ConfigDecodingContext(environment: [:], root: root)
        let decoded: T?
        do {
            decoded = try YAMLDecoder().decode(T.self, from: root, userInfo: [ConfigDecodingContext.userInfoKey: context])
        } catch {
            context.record(error, at: [])
            decoded = nil
        }
        guard let decoded, context.issues.isEmpty else {
            throw RelayConfigError(file: file, issues: context.locatedIssues())
        }
        return decoded
    }

    /// Decodes `type` from a JSON value (settings built in code or read from JSON).
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(RelayConfigError) -> T {
        try Self.decode(type, yaml: value.jsonText)
    }
}
