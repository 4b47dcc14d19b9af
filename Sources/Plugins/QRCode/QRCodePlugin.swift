import NIOCore
public import RelayKernel

/// `GET <path>?text=…` answers an SVG QR code of `text`, encoded by libqrencode (the camera-pairing
/// demo shows the phone page's URL with it).
public struct QRCodePlugin: RelayPlugin {
    public static let name = "qr-code"
    /// HTTP only: no message types.
    public static let messageTypes: [String]? = []

    public init(configuration: QRCodeConfiguration, setup: inout PluginSetup) throws {
        let limit = configuration.maxTextBytes
        setup.http("GET", configuration.path) { request, _ in
            guard let text = request.query["text"], !text.isEmpty else {
                throw RelayError(.invalidMessage, "query parameter 'text' is required")
            }
            guard text.utf8.count <= limit else { throw RelayError(.tooLarge, "text over \(limit) bytes") }
            guard let svg = QRCodeSVG.render(text) else { throw RelayError(.tooLarge, "text does not fit in a QR code") }
            return PluginHTTPResponse(
                status: 200,
                contentType: "image/svg+xml",
                body: ByteBuffer(string: svg),
                headers: ["Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"]
            )
        }
    }

    public func handle(_ message: RelayMessage, context: PluginContext) async throws {
        throw RelayError(.unknownType, "qr-code serves HTTP only")
    }
}
