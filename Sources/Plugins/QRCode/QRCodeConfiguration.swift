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
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.path = try container.decodeIfPresent(String.self, forKey: .path) ?? self.path
        self.maxTextBytes = try container.decodeIfPresent(Int.self, forKey: .maxTextBytes) ?? self.maxTextBytes
        guard self.path.hasPrefix("/"), self.path.count > 1, !self.path.contains(":") else {
            throw DecodingError.dataCorruptedError(forKey: .path, in: container, debugDescription: "must be a URL path without ':' segments")
        }
        guard (1...2953).contains(self.maxTextBytes) else {
            throw DecodingError.dataCorruptedError(forKey: .maxTextBytes, in: container, debugDescription: "must be 1...2953 (a QR code's capacity)")
        }
    }
}
