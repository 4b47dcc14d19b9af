import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Serves the plugins' HTTP routes from the current route table (so SIGHUP can change them).
struct PluginHTTPDispatcher: RouterMiddleware {
    typealias Context = RelayRequestContext

    /// Largest REST body accepted.
    static let maximumBodyBytes = 1 << 20

    let state: RelayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let table = self.state.currentTable
        let method = request.method.rawValue
        for (instance, route) in table.httpRoutes where route.method == method {
            guard let parameters = route.path.match(request.uri.path) else { continue }
            return await self.serve(request, context: context, instance: instance, route: route, parameters: parameters)
        }
        if let (endpoint, parameters) = table.endpoint(forPath: request.uri.path),
            let response = await endpoint.codec.serveHTTP(request, context: context, endpoint: endpoint, parameters: parameters, state: self.state)
        {
            // A transport over HTTP (Engine.IO's long-polling).
            return response
        }
        return try await next(request, context)
    }

    private func serve(
        _ request: Request,
        context: Context,
        instance: PluginInstance,
        route: PluginSetup.HTTPRoute,
        parameters: [String: String]
    ) async -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumBodyBytes)
        } catch {
            return Self.response(.error(RelayError(.tooLarge, "body over \(Self.maximumBodyBytes) bytes")))
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let client = self.state.currentTable.trustedProxies.client(peer: context.remoteAddress, fields: request.headers)
        let pluginRequest = PluginHTTPRequest(
            method: request.method.rawValue,
            path: request.uri.path,
            parameters: parameters,
            query: query,
            headers: headers,
            body: body,
            remoteAddress: client.address
        )
        return Self.response(await Self.run(pluginRequest, instance: instance, route: route, state: self.state, logger: context.logger))
    }

    /// Runs a plugin's REST handler; what it threw becomes the REST error answer. In a cluster the
    /// request's messages are in the database before it is answered.
    static func run(_ request: PluginHTTPRequest, instance: PluginInstance, route: PluginSetup.HTTPRoute, state: RelayState, logger: Logger) async -> PluginHTTPResponse {
        var pluginContext = state.runtime.context(instance: instance.name, client: nil, route: nil, logger: logger)
        let cluster = state.runtime.hub.cluster
        pluginContext.durable = cluster != nil
        do {
            let response = try await route.handler(request, pluginContext)
            await cluster?.flush()
            return response
        } catch {
            switch WireError(error, plugin: instance.name, logger: state.logger) {
            case .answer(let error):
                state.metrics.error(error.code)
                return .error(error)
            case .close:
                return .json(["error": ["code": "internal", "message": "internal error"]], status: 500)
            }
        }
    }

    static func response(_ response: PluginHTTPResponse) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = response.contentType
        for (name, value) in response.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: .init(code: response.status), headers: headers, body: .init(byteBuffer: response.body))
    }
}
