import RelayKernel

/// Settings of a `qr-code` instance.
public struct QRCodeConfiguration: Decodable, Sendable {
    /// The URL path answering `GET <path>?text=…` with an SVG QR code.
    public var path = "/demo/qr.svg"
    /// Longest `text` encoded (bytes).
    public var maxTextBytes = 1024

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, maxTextBytes
    }

    public init(from decoder: any Decoder) throws {
        let fields = ConfigFields(decoder, keys: CodingKeys.self)
        self.path = fields.value(.path, default: self.path)
        self.maxTextBytes = fields.value(.maxTextBytes, default: self.maxTextBytes)
        fields.check(self.path.hasPrefix("/") && self.path.count > 1 && !self.path.contains(":"), .path, "must be a URL path without ':' segments")
        fields.check((1...2953).contains(self.maxTextBytes), .maxTextBytes, "must be 1...2953 (a QR code's capacity)")
        try fields.finish()
    }
}
