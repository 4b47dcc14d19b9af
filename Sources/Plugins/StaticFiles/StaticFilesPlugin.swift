import Foundation
import NIOCore
public import RelayKernel

/// Serves a directory (or one file) over HTTP GET: the browser client library at `/relay.js`,
/// the demo pages under `/demo/`.
///
/// - a directory answers its `index` file (a directory path without its trailing slash is
///   redirected to the path with one, so relative links work);
/// - `Content-Type` by extension;
/// - `..`, `.`, hidden segments and anything resolving (through symlinks) outside `root` are
///   never served; misses answer the kernel's REST error shape with 404.
public struct StaticFilesPlugin: RelayPlugin {
    public static let name = "static-files"
    /// HTTP only: no message types.
    public static let messageTypes: [String]? = []

    let resolver: StaticFileResolver
    let prefix: String
    let maxFileBytes: Int
    let cacheControl: String

    public init(configuration: StaticFilesConfiguration, setup: inout PluginSetup) throws {
        self.resolver = StaticFileResolver(root: configuration.root, index: configuration.index)
        let trimmed = configuration.prefix.split(separator: "/").joined(separator: "/")
        self.prefix = "/" + trimmed
        self.maxFileBytes = configuration.maxFileBytes
        self.cacheControl = configuration.cacheControl
        let plugin = self
        setup.http("GET", self.prefix) { request, _ in plugin.serve(request) }
        // A single file is served at exactly the prefix; a directory at every depth below it.
        guard !self.resolver.rootIsFile else { return }
        var pattern = trimmed.isEmpty ? "" : "/" + trimmed
        for depth in 1...configuration.maxDepth {
            pattern += "/:p\(depth)"
            setup.http("GET", pattern) { request, _ in plugin.serve(request) }
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        throw RelayError(.unknownType, "static-files serves HTTP only")
    }

    func serve(_ request: PluginHTTPRequest) -> PluginHTTPResponse {
        var segments: [String] = []
        var depth = 1
        while let segment = request.parameters["p\(depth)"] {
            segments.append(segment)
            depth += 1
        }
        if request.path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." || $0.lowercased().contains("%2e%2e") }) {
            return .error(RelayError(.invalidMessage, "path must not contain '..'"))
        }
        if !segments.isEmpty, self.resolver.rootIsFile {
            return Self.notFound(request.path)
        }
        switch self.resolver.resolve(segments, trailingSlash: request.path.hasSuffix("/")) {
        case .forbiddenPath:
            return .error(RelayError(.invalidMessage, "path segment not allowed"))
        case .notFound:
            return Self.notFound(request.path)
        case .addSlash:
            let location = request.path + "/"
            return PluginHTTPResponse(status: 301, contentType: "text/plain; charset=utf-8", body: ByteBuffer(string: location), headers: ["Location": location])
        case .file(let path):
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let size = attributes[.size] as? Int, size <= self.maxFileBytes,
                let data = FileManager.default.contents(atPath: path)
            else {
                return Self.notFound(request.path)
            }
            return PluginHTTPResponse(
                status: 200,
                contentType: ContentTypes.forFile(path),
                body: ByteBuffer(bytes: data),
                headers: ["Cache-Control": self.cacheControl, "X-Content-Type-Options": "nosniff"]
            )
        }
    }

    static func notFound(_ path: String) -> PluginHTTPResponse {
        .error(RelayError(.notFound, "no file at \(path)"))
    }
}
