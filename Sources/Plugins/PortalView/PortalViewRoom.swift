import RelayKernel

/// One portal view's identity and the names derived from it: its rooms (everyone, controllers,
/// viewers) and its keys in the instance's store.
///
/// A view is named by the endpoint parameter `portalViewId`. When roles come from a claim keyed
/// by another parameter (e.g. `libraryId`), that parameter's value is part of the identity too:
/// a client holding a role in library A that names a view of library B lands in a room of its
/// own, never in B's.
struct PortalViewRoom: Sendable, Hashable {
    /// The portal view id.
    let viewId: String
    /// The value of the claim-key parameter when it is part of the identity (e.g. the library id).
    let scope: String?

    /// A view named directly.
    init(viewId: String, scope: String? = nil) {
        self.viewId = viewId
        self.scope = scope
    }

    /// The view a client connected to, from its endpoint parameters.
    init(client: ClientInfo, configuration: PortalViewConfiguration) throws(RelayError) {
        guard let viewId = client.parameters[PortalViewConfiguration.viewParameter], !viewId.isEmpty else {
            throw RelayError(.forbidden, "the endpoint has no :\(PortalViewConfiguration.viewParameter) parameter")
        }
        var scope: String?
        if let parameter = Self.scopeParameter(configuration) {
            guard let value = client.parameters[parameter], !value.isEmpty else {
                throw RelayError(.forbidden, "the endpoint has no :\(parameter) parameter")
            }
            scope = value
        }
        self.init(viewId: viewId, scope: scope)
    }

    /// The view a REST broadcast names: `:id`, plus `?<claimKey>=` when that is part of the identity.
    init(request: PluginHTTPRequest, configuration: PortalViewConfiguration) throws(RelayError) {
        guard let viewId = request.parameters["id"], !viewId.isEmpty else {
            throw RelayError(.invalidMessage, "the path must name a portal view")
        }
        var scope: String?
        if let parameter = Self.scopeParameter(configuration) {
            guard let value = request.query[parameter], !value.isEmpty else {
                throw RelayError(.invalidMessage, "query parameter '\(parameter)' is required")
            }
            scope = value
        }
        self.init(viewId: viewId, scope: scope)
    }

    /// The endpoint parameter that is part of a view's identity, if any.
    static func scopeParameter(_ configuration: PortalViewConfiguration) -> String? {
        configuration.roleSource == .claims && configuration.claimKey != PortalViewConfiguration.viewParameter ? configuration.claimKey : nil
    }

    /// Unambiguous name (ids may hold any character after percent-decoding).
    var name: String {
        guard let scope else { return self.viewId }
        return "\(scope.utf8.count):\(scope)/\(self.viewId)"
    }

    /// Every connection of the view.
    var everyone: String { "view:\(self.name)" }

    /// The connections holding `role`.
    func members(_ role: PortalViewRole) -> String { "\(role.rawValue)s:\(self.name)" }

    /// Store key of the view's latest `portal-view-update`.
    var stateKey: String { "state:\(self.name)" }
}
