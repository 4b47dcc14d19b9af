import RelayKernel

/// Settings of a `static-files` instance.
public struct StaticFilesConfiguration: Decodable, Sendable {
    /// A directory to serve, or a single file (served at exactly `prefix`). Relative paths are
    /// resolved against the relay's working directory when a request arrives.
    public var root: String
    /// The URL path the files appear under (`/demo` serves `root/a.html` at `/demo/a.html`).
    public var prefix: String
    /// The file answered for a directory.
    public var index = "index.html"
    /// Deepest path (in segments below `prefix`) served.
    public var maxDepth = 8
    /// Largest file served (bytes); larger files answer 404.
    public var maxFileBytes = 16 * 1024 * 1024
    /// `Cache-Control` of every answer.
    public var cacheControl = "no-cache"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case root, prefix, index, maxDepth, maxFileBytes, cacheControl
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.root = fields.required(.root) ?? ""
        self.prefix = fields.required(.prefix) ?? "/"
        self.index = fields.value(.index, default: self.index)
        self.maxDepth = fields.value(.maxDepth, default: self.maxDepth)
        self.maxFileBytes = fields.value(.maxFileBytes, default: self.maxFileBytes)
        self.cacheControl = fields.value(.cacheControl, default: self.cacheControl)
        fields.check(!self.root.isEmpty || !fields.isPresent(.root), .root, "must not be empty")
        fields.check(
            !fields.isPresent(.prefix)
                || (self.prefix.hasPrefix("/") && self.prefix.contains(where: { $0 != "/" }) && !self.prefix.contains(":")
                    && !self.prefix.split(separator: "/").contains(where: { $0 == ".." || $0 == "." })),
            .prefix,
            "must be a URL path below '/' (not '/' itself, which would hide /healthz and /metrics) without ':' segments"
        )
        fields.check(!self.index.isEmpty && !self.index.contains("/"), .index, "must be a file name")
        fields.check((1...32).contains(self.maxDepth), .maxDepth, "must be 1...32")
        fields.check(self.maxFileBytes > 0, .maxFileBytes, "must be positive")
        try fields.finish()
    }
}
