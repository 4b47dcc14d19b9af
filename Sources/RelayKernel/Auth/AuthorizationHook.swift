import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Asks the product's backend whether a user may use a resource (a room, a stream), and
/// caches the answer.
///
/// The hook POSTs `{"userId":…,"resource":…,"claims":{…}}` as JSON to the configured URL.
/// `200` with a JSON object grants access and the object is the answer (e.g. `{"role":"EDITOR"}`);
/// an object with `"allow": false`, or a `401`, `403` or `404`, denies it. Anything else (other
/// statuses, a body that is not an object, a time-out) is a ``Failure``: the caller decides
/// whether that closes with 1011 or denies. Grants and denials are cached for
/// ``Settings/cacheSeconds``; failures are not.
public final class AuthorizationHook: Sendable {
    /// Where and how to ask.
    public struct Settings: Decodable, Sendable, Equatable {
        /// The backend endpoint.
        public var url: String
        /// Seconds to wait for an answer.
        public var timeout: Double
        /// Seconds an answer is reused for the same user and resource.
        public var cacheSeconds: Double
        /// Extra request headers (e.g. a shared secret).
        public var headers: [String: String]

        /// Creates settings.
        public init(url: String, timeout: Double = 2, cacheSeconds: Double = 30, headers: [String: String] = [:]) {
            self.url = url
            self.timeout = timeout
            self.cacheSeconds = cacheSeconds
            self.headers = headers
        }

        enum CodingKeys: String, CodingKey { case url, timeout, cacheSeconds, headers }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.url = try container.decode(String.self, forKey: .url)
            self.timeout = try container.decodeIfPresent(Double.self, forKey: .timeout) ?? 2
            self.cacheSeconds = try container.decodeIfPresent(Double.self, forKey: .cacheSeconds) ?? 30
            self.headers = try container.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
            guard URL(string: self.url)?.scheme.map({ ["http", "https"].contains($0) }) == true else {
                throw DecodingError.dataCorruptedError(forKey: .url, in: container, debugDescription: "must be an http(s) URL")
            }
            guard self.timeout > 0 else {
                throw DecodingError.dataCorruptedError(forKey: .timeout, in: container, debugDescription: "must be positive")
            }
        }
    }

    /// The backend's answer.
    public enum Decision: Sendable, Equatable {
        /// Access granted; the backend's JSON object.
        case granted([String: JSONValue])
        /// Access denied.
        case denied
    }

    /// The backend could not give an answer.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// What went wrong.
        public let reason: String
        public var description: String { self.reason }
    }

    private struct CacheKey: Hashable {
        let userId: String?
        let resource: String
    }

    private struct CacheEntry {
        let decision: Decision
        let expiresAt: ContinuousClock.Instant
    }

    /// The most answers kept; beyond it the cache starts afresh.
    static let cacheLimit = 10_000

    /// The settings in use.
    public let settings: Settings
    private let cache = Mutex<[CacheKey: CacheEntry]>([:])

    /// Creates a hook.
    public init(settings: Settings) {
        self.settings = settings
    }

    /// Asks whether `userId` may use `resource`.
    public func authorize(userId: String?, resource: String, claims: [String: JSONValue] = [:]) async throws(Failure) -> Decision {
        let key = CacheKey(userId: userId, resource: resource)
        let now = ContinuousClock.now
        if let cached = self.cache.withLock({ $0[key] }), cached.expiresAt > now { return cached.decision }
        let decision = try await self.ask(userId: userId, resource: resource, claims: claims)
        if self.settings.cacheSeconds > 0 {
            self.cache.withLock { cache in
                if cache.count >= Self.cacheLimit { cache.removeAll() }
                cache[key] = CacheEntry(decision: decision, expiresAt: now + .seconds(self.settings.cacheSeconds))
            }
        }
        return decision
    }

    private func ask(userId: String?, resource: String, claims: [String: JSONValue]) async throws(Failure) -> Decision {
        var request = HTTPClientRequest(url: self.settings.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in self.settings.headers { request.headers.add(name: name, value: value) }
        var body = ByteBuffer()
        JSONValue.object(["userId": userId.map(JSONValue.string) ?? .null, "resource": .string(resource), "claims": .object(claims)])
            .write(into: &body)
        request.body = .bytes(body)
        let timeout = TimeAmount.nanoseconds(Duration.seconds(self.settings.timeout).nanoseconds)
        let status: HTTPResponseStatus
        let bytes: ByteBuffer
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            status = response.status
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw Failure(reason: "authorization hook unreachable: \(error)")
        }
        switch status.code {
        case 200:
            guard let object = try? JSONParser.parse(bytes.readableBytesView).objectValue else {
                throw Failure(reason: "authorization hook answered with a body that is not a JSON object")
            }
            return object["allow"]?.boolValue == false ? .denied : .granted(object)
        case 401, 403, 404:
            return .denied
        default:
            throw Failure(reason: "authorization hook answered HTTP \(status.code)")
        }
    }
}
