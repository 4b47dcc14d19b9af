/// The relay's version (semantic versioning, see CHANGELOG.md) and the git commit it was built
/// from, stamped in at build time by `BuildInfoPlugin`.
public enum RelayVersion {
    /// The release, `MAJOR.MINOR.PATCH`.
    public static let number = "0.9.0"

    /// The commit the binary was built from: 12 hex digits, `-dirty` when tracked files had
    /// uncommitted changes, `RELAY_BUILD_COMMIT` when the build set it, `unknown` otherwise.
    public static let commit = buildCommit

    /// What `relay --version` prints: `0.9.0 (commit 1a2b3c4d5e6f)`.
    public static var description: String { "\(Self.number) (commit \(Self.commit))" }
}
