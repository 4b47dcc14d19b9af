public import CFuzzDriver
import Foundation

/// Runs libFuzzer from a Swift `main`: SwiftPM makes an executable's entry point its own `main`
/// (`--defsym main=<Target>_main`), which wins over libFuzzer's. libFuzzer's `main` object is still
/// linked in, so each target also names its function `LLVMFuzzerTestOneInput` (`@_cdecl`).
public enum FuzzDriver {
    /// What libFuzzer calls with each input: its bytes (`nil` for an empty input) and count;
    /// returns 0.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Runs the fuzzer with the process's command line (corpus directories, `-max_total_time=`,
    /// …) and exits with its status.
    public static func run(_ testOneInput: TestOneInput) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }

    /// The input as a buffer.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    }
}
