public import RelayKernel

/// How a `portal-view` instance asks the product backend for a client's role
/// (`plugins.<name>.config.hook`).
///
/// The kernel's ``AuthorizationHook`` POSTs `{"userId":…,"resource":…,"claims":{…}}`; a `200`
/// answer `{"role":"OWNER|EDITOR|VIEWER"}` grants that role; `{"allow":false}`, `401`, `403`,
/// `404` or an answer without a known role denies (close 1008). Answers are cached for
/// `cacheSeconds` per user and resource.
public struct PortalViewHookConfiguration: Decodable, Sendable {
    /// What happens when the backend cannot answer (time-out, unreachable, HTTP 5xx, a body that is
    /// not a JSON object).
    public enum FailurePolicy: String, Decodable, Sendable, CaseIterable {
        /// Close the client with 1011 (internal error): it should retry later.
        case close
        /// Refuse the client with 1008, as if the backend had denied it.
        case deny
    }

    /// The kernel hook's settings: `url`, `timeout` (default 2), `cacheSeconds` (default 30), `headers`.
    public var settings: AuthorizationHook.Settings
    /// The `resource` sent to the backend; `{name}` is replaced by the endpoint parameter `name`.
    public var resource = "portal-view:{portalViewId}"
    /// What a hook failure does.
    public var onFailure = FailurePolicy.close

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, timeout, cacheSeconds, headers, resource, onFailure
    }

    /// Creates settings.
    public init(settings: AuthorizationHook.Settings, resource: String = "portal-view:{portalViewId}", onFailure: FailurePolicy = .close) {
        self.settings = settings
        self.resource = resource
        self.onFailure = onFailure
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        // The kernel hook's keys share this mapping; its decoder checks url and timeout.
        var settings: AuthorizationHook.Settings?
        do {
            settings = try AuthorizationHook.Settings(from: decoder)
        } catch {
            fields.record(error)
        }
        self.settings = settings ?? AuthorizationHook.Settings(url: "")
        self.resource = fields.value(.resource, default: self.resource)
        self.onFailure = fields.value(.onFailure, default: self.onFailure)
        fields.check(self.settings.cacheSeconds >= 0, .cacheSeconds, "must not be negative")
        fields.check(!self.resource.isEmpty, .resource, "must not be empty")
        try fields.finish()
    }

    /// ``resource`` with every `{name}` replaced by the endpoint parameter `name` (unknown names stay).
    func resource(parameters: [String: String]) -> String {
        var text = ""
        var rest = Substring(self.resource)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            text += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            text += parameters[name] ?? String(rest[open...close])
            rest = rest[rest.index(after: close)...]
        }
        return text + rest
    }
}
