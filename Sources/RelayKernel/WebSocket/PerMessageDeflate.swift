import Foundation

/// permessage-deflate (RFC 7692): the negotiation of an offer in `Sec-WebSocket-Extensions`
/// and the parameters both sides then use.
struct PerMessageDeflate: Sendable, Equatable {
    /// The server resets its compressor after every message.
    var serverNoContextTakeover = false
    /// The client resets its compressor after every message (so the server may reset its
    /// decompressor).
    var clientNoContextTakeover = false
    /// The server's LZ77 window, 2^bits bytes (9...15; zlib cannot compress raw deflate with 8).
    var serverMaxWindowBits = 15
    /// The client's window, which bounds what the server must keep to decompress (8...15).
    var clientMaxWindowBits = 15

    private static let spaceAndQuotes = CharacterSet(charactersIn: " \t\"")

    /// The value of the `Sec-WebSocket-Extensions` answer.
    var responseHeader: String {
        var parameters = ["permessage-deflate"]
        if self.serverNoContextTakeover { parameters.append("server_no_context_takeover") }
        if self.clientNoContextTakeover { parameters.append("client_no_context_takeover") }
        if self.serverMaxWindowBits < 15 { parameters.append("server_max_window_bits=\(self.serverMaxWindowBits)") }
        if self.clientMaxWindowBits < 15 { parameters.append("client_max_window_bits=\(self.clientMaxWindowBits)") }
        return parameters.joined(separator: "; ")
    }

    /// Accepts the first permessage-deflate offer in `headers` (the request's
    /// `Sec-WebSocket-Extensions` values) that the endpoint's `settings` can honour; `nil` when
    /// compression is off or no offer can be honoured (the connection is then uncompressed).
    static func negotiate(offers headers: [String], settings: CompressionSettings) -> PerMessageDeflate? {
        guard settings.enabled else { return nil }
        for offer in headers.flatMap({ $0.split(separator: ",") }) {
            if let accepted = Self.accept(offer, settings: settings) { return accepted }
        }
        return nil
    }

    /// The answer to one offer, or `nil` when it is not permessage-deflate, is malformed, or asks
    /// for what zlib cannot do.
    private static func accept(_ offer: Substring, settings: CompressionSettings) -> PerMessageDeflate? {
        let parts = offer.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "permessage-deflate" else { return nil }
        var result = PerMessageDeflate(
            serverNoContextTakeover: settings.noContextTakeover,
            clientNoContextTakeover: settings.noContextTakeover,
            serverMaxWindowBits: settings.maxWindowBits,
            clientMaxWindowBits: 15
        )
        var seen = Set<String>()
        var clientMayLimit = false
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: Self.spaceAndQuotes) }
            // An empty parameter, or a name with an empty value, makes the offer malformed.
            guard let name = pair.first?.lowercased(), !name.isEmpty, seen.insert(name).inserted else { return nil }
            let value = pair.count > 1 ? Int(pair[1]) : nil
            if pair.count > 1, value.map({ (8...15).contains($0) }) != true { return nil }
            switch name {
            case "server_no_context_takeover":
                guard pair.count == 1 else { return nil }
                result.serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard pair.count == 1 else { return nil }
                result.clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let value else { return nil }
                // zlib's raw deflate has no 256-byte window: an offer insisting on it is declined.
                guard value >= 9 else { return nil }
                result.serverMaxWindowBits = min(value, result.serverMaxWindowBits)
            case "client_max_window_bits":
                clientMayLimit = true
                if let value { result.clientMaxWindowBits = value }
            default:
                return nil
            }
        }
        // The client's window may only be narrowed when the offer allows it.
        if clientMayLimit { result.clientMaxWindowBits = min(result.clientMaxWindowBits, max(settings.maxWindowBits, 9)) }
        return result
    }
}
