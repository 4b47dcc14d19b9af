import Foundation
import PackagePlugin

/// Stamps the git commit of the relay's checkout into the target before every build, as
/// `let buildCommit = "…"` in a generated `BuildCommit.swift` (`relay --version`, the
/// `relay_build_info` gauge).
///
/// The commit is `git rev-parse --short=12 HEAD`, with `-dirty` when tracked files differ from
/// it; `RELAY_BUILD_COMMIT` in the build's environment overrides it (a build from a source
/// archive without `.git`), and it is `unknown` when neither is available. The file is
/// rewritten only when its text changes, so an unchanged commit recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        environment["RELAY_BUILD_COMMIT"] = ProcessInfo.processInfo.environment["RELAY_BUILD_COMMIT"]
        return [
            .prebuildCommand(
                displayName: "Stamping the git commit into \(target.name)",
                executable: URL(filePath: "/bin/sh"),
                arguments: ["-c", Self.script, "build-info", context.package.directoryURL.path(), output.path()],
                environment: environment,
                outputFilesDirectory: output
            )
        ]
    }

    /// `$1`: the package directory, `$2`: the output directory.
    private static let script = #"""
        set -e
        commit="${RELAY_BUILD_COMMIT:-}"
        if [ -z "$commit" ]; then
            commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                commit="$commit-dirty"
            fi
        fi
        text="// Generated before each build by BuildInfoPlugin (BuildTools/BuildInfoPlugin).
        let buildCommit = \"$commit\""
        mkdir -p "$2"
        if [ ! -f "$2/BuildCommit.swift" ] || [ "$(cat "$2/BuildCommit.swift")" != "$text" ]; then
            printf '%s\n' "$text" > "$2/BuildCommit.swift"
        fi
        """#
}
