import RelayKernel

/// The REST API of an `ml-alerts` instance (seed 004 §4–6), bearer JWT on every call:
///
/// - `POST <prefix>/streams/register` `{deviceName, deviceType?, metadata?}` → `{streamId, message}`
/// - `GET <prefix>/streams/list` → `{streams:[…]}` (the caller's; every stream for the service role)
/// - `GET <prefix>/alerts?streamId&limit&before&severity` → `{alerts:[…], nextCursor}`, newest first
struct MLAlertsHTTPAPI: Sendable {
    let configuration: MLAlertsConfiguration

    /// Registers the three routes.
    func install(on setup: inout PluginSetup) {
        let prefix = self.configuration.apiPrefix
        setup.http("POST", "\(prefix)/streams/register") { request, context in
            try await self.registerStream(request, context: context)
        }
        setup.http("GET", "\(prefix)/streams/list") { request, context in
            try await self.listStreams(request, context: context)
        }
        setup.http("GET", "\(prefix)/alerts") { request, context in
            try await self.listAlerts(request, context: context)
        }
    }

    func registerStream(_ request: PluginHTTPRequest, context: PluginContext) async throws -> PluginHTTPResponse {
        let userId = try await self.caller(request, context: context).requireUser()
        let body = try request.jsonObject()
        guard let deviceName = try MLFields.name(body["deviceName"], field: "deviceName", maxLength: self.configuration.maxNameLength) else {
            throw RelayError.invalidField("deviceName", expected: "a non-empty string")
        }
        let deviceType = try MLFields.name(body["deviceType"], field: "deviceType", maxLength: self.configuration.maxNameLength) ?? "mobile"
        let metadata = try MLFields.metadata(body["metadata"])
        let stream = try await MLStreamRegistry(context: context).create(
            userId: userId,
            deviceName: deviceName,
            deviceType: deviceType,
            metadata: metadata
        )
        return .json(["streamId": .string(stream.id), "message": "Stream registered successfully"])
    }

    func listStreams(_ request: PluginHTTPRequest, context: PluginContext) async throws -> PluginHTTPResponse {
        let caller = try await self.caller(request, context: context)
        let owner = caller.isService ? nil : try caller.requireUser()
        let streams = try await MLStreamRegistry(context: context).list(userId: owner)
        return .json(["streams": .array(streams.map(\.json))])
    }

    func listAlerts(_ request: PluginHTTPRequest, context: PluginContext) async throws -> PluginHTTPResponse {
        let caller = try await self.caller(request, context: context)
        var filters: [String: JSONValue] = [:]
        if let streamId = request.query["streamId"], !streamId.isEmpty {
            guard let stream = try await MLStreamRegistry(context: context).get(streamId) else {
                throw RelayError(.notFound, "no stream '\(streamId)'")
            }
            guard caller.mayRead(stream) else { throw RelayError(.forbidden, "stream '\(streamId)' belongs to another user") }
            filters["streamId"] = .string(streamId)
        } else if !caller.isService {
            filters["userId"] = .string(try caller.requireUser())
        }
        if let severity = request.query["severity"], !severity.isEmpty {
            guard MLSeverity(rawValue: severity) != nil else {
                throw RelayError(.invalidMessage, "'severity' must be one of \(MLSeverity.list)")
            }
            filters["severity"] = .string(severity)
        }
        let limit = try self.limit(request.query["limit"])
        let before = request.query["before"].flatMap { $0.isEmpty ? nil : $0 }
        let page: DurablePage
        do {
            page = try await context.records.list(MLAlertLog.collection, DurableQuery(filters: filters, before: before, limit: limit))
        } catch let error as DurableStoreError {
            throw RelayError(.invalidMessage, "'before' must be a nextCursor from this API (\(error.message))")
        }
        let alerts = page.records.compactMap(MLAlertRecord.init)
        return .json(["alerts": .array(alerts.map(\.json)), "nextCursor": page.nextCursor.map(JSONValue.string) ?? .null])
    }

    // MARK: Helpers

    private func caller(_ request: PluginHTTPRequest, context: PluginContext) async throws(RelayError) -> MLCaller {
        let identity = try await context.verifyToken(request.bearerToken)
        return MLCaller(userId: identity.userId, claims: identity.claims, configuration: self.configuration)
    }

    /// `limit`: default when absent, at least 1, lowered to the maximum.
    private func limit(_ text: String?) throws(RelayError) -> Int {
        guard let text, !text.isEmpty else { return self.configuration.defaultPageSize }
        guard let limit = Int(text), limit >= 1 else { throw RelayError(.invalidMessage, "'limit' must be a positive integer") }
        return min(limit, self.configuration.maxPageSize)
    }
}
