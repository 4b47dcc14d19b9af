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
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.root = try container.decode(String.self, forKey: .root)
        self.prefix = try container.decode(String.self, forKey: .prefix)
        self.index = try container.decodeIfPresent(String.self, forKey: .index) ?? self.index
        self.maxDepth = try container.decodeIfPresent(Int.self, forKey: .maxDepth) ?? self.maxDepth
        self.maxFileBytes = try container.decodeIfPresent(Int.self, forKey: .maxFileBytes) ?? self.maxFileBytes
        self.cacheControl = try container.decodeIfPresent(String.self, forKey: .cacheControl) ?? self.cacheControl
        guard !self.root.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .root, in: container, debugDescription: "must not be empty")
        }
        guard self.prefix.hasPrefix("/"), self.prefix.contains(where: { $0 != "/" }), !self.prefix.contains(":"), !self.prefix.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw DecodingError.dataCorruptedError(forKey: .prefix, in: container, debugDescription: "must be a URL path below '/' (not '/' itself, which would hide /healthz and /metrics) without ':' segments")
        }
        guard !self.index.isEmpty, !self.index.contains("/") else {
            throw DecodingError.dataCorruptedError(forKey: .index, in: container, debugDescription: "must be a file name")
        }
        guard (1...32).contains(self.maxDepth) else {
            throw DecodingError.dataCorruptedError(forKey: .maxDepth, in: container, debugDescription: "must be 1...32")
        }
        guard self.maxFileBytes > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .maxFileBytes, in: container, debugDescription: "must be positive")
        }
    }
}
