import Foundation

/// Maps the path segments of a request below the prefix to a file inside the root, refusing
/// anything that could leave it: `..`, `.` and hidden (`.name`) segments, separators or NUL inside
/// a segment, and paths whose symlinks resolve outside the root.
struct StaticFileResolver: Sendable {
    enum Outcome: Equatable {
        /// Serve this file.
        case file(String)
        /// A directory asked for without its trailing slash: redirect so relative links work.
        case addSlash
        /// A segment that is never served (`..`, hidden, separators).
        case forbiddenPath
        case notFound
    }

    let root: String
    let index: String

    init(root: String, index: String) {
        let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        self.root = absolute
        self.index = index
    }

    /// True when the root is a single file (served at exactly the prefix).
    var rootIsFile: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: self.root, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    func resolve(_ segments: [String], trailingSlash: Bool) -> Outcome {
        for segment in segments {
            if segment.isEmpty || segment.hasPrefix(".") || segment.contains("/") || segment.contains("\\") || segment.contains("\0") {
                return .forbiddenPath
            }
        }
        let realRoot = Self.realPath(self.root)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: realRoot, isDirectory: &isDirectory) else { return .notFound }
        if !isDirectory.boolValue {
            return segments.isEmpty ? .file(realRoot) : .notFound
        }
        var candidate = ([realRoot] + segments).joined(separator: "/")
        guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) else { return .notFound }
        if isDirectory.boolValue {
            if !trailingSlash { return .addSlash }
            candidate += "/" + self.index
        }
        let resolved = Self.realPath(candidate)
        guard resolved.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/") else { return .notFound }
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else { return .notFound }
        return .file(resolved)
    }

    static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }
}
