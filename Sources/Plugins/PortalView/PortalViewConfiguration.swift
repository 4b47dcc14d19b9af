import RelayKernel

/// Settings of a `portal-view` instance (`plugins.<name>.config`).
///
/// Durations are seconds (fractions allowed). Unknown keys are errors, so a typo is caught by
/// `relay check`. See `docs/plugins/portal-view.md`.
public struct PortalViewConfiguration: Decodable, Sendable {
    /// Where a client's role comes from.
    public enum RoleSource: String, Decodable, Sendable, CaseIterable {
        /// A claim of the client's token: a map from id to `OWNER|EDITOR|VIEWER`.
        case claims
        /// The product backend's authorization hook (``hook``).
        case hook
    }

    /// Where a client's role comes from.
    public var roleSource = RoleSource.claims
    /// Dotted path of the claim holding the map from id to role (`portalViews`, `access.libraries`).
    public var claim = "portalViews"
    /// The endpoint parameter whose value is looked up in the claim's map: `portalViewId`, or e.g.
    /// `libraryId` on an endpoint `/ws/library/:libraryId/portal-view/:portalViewId`. When it is not
    /// `portalViewId`, its value is part of the view's identity (rooms, state, REST broadcast), so a
    /// role in one library never reaches a view of another.
    public var claimKey = PortalViewConfiguration.viewParameter
    /// Granted roles that make a client a controller (compared case-insensitively).
    public var controllerRoles = ["OWNER", "EDITOR"]
    /// Granted roles that make a client a viewer (compared case-insensitively).
    public var viewerRoles = ["VIEWER"]
    /// The authorization hook; required when ``roleSource`` is `hook`.
    public var hook: PortalViewHookConfiguration?
    /// Announce `{"type":"presence","controllers":n,"viewers":m}` to the view on every join and leave.
    public var presence = true
    /// Keep each view's latest `portal-view-update` and send it to a viewer when it joins.
    public var keepLatestState = true
    /// How long a view's latest state is kept after its last update.
    public var stateTTL: Double = 86_400
    /// Path prefix of the REST broadcast (`<prefix>/:id/broadcast`).
    public var restPrefix = "/api/portal-views"

    /// The endpoint parameter naming the portal view.
    public static let viewParameter = "portalViewId"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case roleSource, claim, claimKey, controllerRoles, viewerRoles, hook, presence, keepLatestState, stateTTL, restPrefix
    }

    /// The defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.roleSource = fields.value(.roleSource, default: self.roleSource)
        self.claim = fields.value(.claim, default: self.claim)
        self.claimKey = fields.value(.claimKey, default: self.claimKey)
        self.controllerRoles = fields.value(.controllerRoles, default: self.controllerRoles)
        self.viewerRoles = fields.value(.viewerRoles, default: self.viewerRoles)
        self.hook = fields.optional(.hook)
        self.presence = fields.value(.presence, default: self.presence)
        self.keepLatestState = fields.value(.keepLatestState, default: self.keepLatestState)
        self.stateTTL = fields.value(.stateTTL, default: self.stateTTL)
        self.restPrefix = fields.value(.restPrefix, default: self.restPrefix)

        fields.check(self.roleSource != .hook || fields.isPresent(.hook), .hook, "is required when roleSource is 'hook'")
        let claimParts = self.claim.split(separator: ".", omittingEmptySubsequences: false)
        fields.check(!claimParts.contains(""), .claim, "must be a dotted claim path")
        fields.check(!self.claimKey.isEmpty, .claimKey, "must name an endpoint parameter")
        fields.check(!self.controllerRoles.isEmpty, .controllerRoles, "must name at least one role")
        let overlap = Set(self.controllerRoles.map { $0.uppercased() }).intersection(self.viewerRoles.map { $0.uppercased() })
        fields.check(overlap.isEmpty, .viewerRoles, "must not repeat a controller role (\(overlap.sorted().joined(separator: ", ")))")
        fields.check(self.stateTTL > 0, .stateTTL, "must be positive")
        fields.check(
            self.restPrefix.hasPrefix("/") && !self.restPrefix.hasSuffix("/") && !self.restPrefix.contains(":"),
            .restPrefix,
            "must start with '/', not end with '/', and have no ':' segments"
        )
        try fields.finish()
    }

    /// The role a granted backend or claim role maps to, or `nil` (no access).
    func role(granted: String) -> PortalViewRole? {
        let granted = granted.uppercased()
        if self.controllerRoles.contains(where: { $0.uppercased() == granted }) { return .controller }
        if self.viewerRoles.contains(where: { $0.uppercased() == granted }) { return .viewer }
        return nil
    }
}
