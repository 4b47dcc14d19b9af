import Dispatch
import FuzzSupport
@testable import RelayKernel

@main
enum FuzzTokenVerifierMain {
    static func main() { FuzzDriver.run(fuzzTokenVerifier) }
}

/// libFuzzer target: the JWT verifier's front end (segments, base64url, the header's `alg` and
/// `kid`, JWTKit's parsing and signature check, the claims) with an HS256 secret and a JWKS of an
/// RSA and an EC key, as a connecting client's token meets it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenVerifier(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let token = String(decoding: FuzzDriver.bytes(data, size), as: UTF8.self)
    blocking { _ = try? await verifier.verify(token, now: 1_700_000_000) }
    return 0
}

/// Runs `body` to its end from the fuzzer's synchronous entry point; returns what it returned.
private func blocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let result = ResultBox<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        result.value = await body()
        done.signal()
    }
    done.wait()
    return result.value!
}

/// Carries a task's result to the thread waiting on the semaphore (which orders the accesses).
private final class ResultBox<Value>: @unchecked Sendable {
    var value: Value?
}

private let verifier: TokenVerifier = blocking {
    do {
        return try await TokenVerifier(settings: AuthSettings(), secret: "fuzzing-secret-0123456789abcdefghijklmnop", jwks: jwks)
    } catch {
        fatalError("the fuzzing keys do not load: \(error)")
    }
}

/// Public keys made for the fuzzer (the seed corpus holds tokens they sign; the private keys
/// were discarded): one RSA (RS256) and one P-256 (ES256) key.
private let jwks = """
    {"keys":[
    {"kty":"RSA","kid":"rsa","use":"sig","alg":"RS256","e":"AQAB","n":"rlpNsjaZadvhfuYH22CTS2ir4IP5sn8v9xFba5cwVxim8Slrukv6JQSllvFizeRDhXClQSYjSV5rcECADx7wxlCi-JcDFr23h5NYu4L8yyG0AF081b9eOGEHLiHeEMrtWtPq9tUNZYrBy0MdHev4jMCjN5vkHcfb5tq9sFB_014N6JY4pno3CHNyenQ-pVBtp41J-Kcs-ZQXB2DnrWle1I4fMSQVhslec9mz6urJe6nArZLRTGtrs14fPHFvHAybge5jueA82qvFMutmtuae6mFG0E862TW6axG2W1a2j04ysdJjahKwMANRVY7z7QZjkxwFBkQSvxOgJj1OLsqYQw"},
    {"kty":"EC","kid":"ec","use":"sig","alg":"ES256","crv":"P-256","x":"7ibXGPutUiKNqk6UntWW6NBVjv6rhOa1XY9ePvMekGY","y":"583PAYx2g0tDzxX1nbin3fpYfbExjnVNXjVfqDr_8y8"}
    ]}
    """
