import HTTPTypes
import Hummingbird

/// CORS for the relay's HTTP routes: browsers on an origin in `limits.allowedOrigins` may call
/// the REST API (preflights answered with 204); other origins get no CORS headers.
struct CORSPolicy: RouterMiddleware {
    typealias Context = RelayRequestContext

    let state: RelayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let table = self.state.currentTable
        guard let origin = request.headers[.origin],
            // An endpoint's own HTTP transport (Engine.IO's long-polling) answers with its origins.
            table.endpoint(forPath: request.uri.path) == nil,
            table.allowedOrigins.contains(where: { $0.matches(origin) })
        else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowMethods] = "GET, POST, PUT, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "authorization, content-type, x-api-key"
            headers[.accessControlMaxAge] = "600"
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }
}
