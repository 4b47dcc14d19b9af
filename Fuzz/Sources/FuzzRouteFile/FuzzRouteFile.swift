import FuzzSupport
import Plugins
@testable import RelayKernel

@main
enum FuzzRouteFileMain {
    static func main() { FuzzDriver.run(fuzzRouteFile) }
}

/// libFuzzer target: the route file loader (YAML, every section's settings, environment
/// overrides, cross-references, the built-in plugins' settings, the lint), as `relay check`
/// runs it; a file either loads or is refused with issues, never anything else.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRouteFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    do {
        _ = try RouteFile.decode(yaml: text, file: "fuzz.yaml", environment: [:], registry: registry)
    } catch {
        guard !error.issues.isEmpty else { fatalError("a refused route file with no issue") }
    }
    return 0
}

private let registry = BuiltinPlugins.registry
