import Foundation
import NIOCore
import NIOPosix
import RelayKernel

/// An HTTP answer from the relay.
struct TestHTTPResponse: Sendable {
    let status: Int
    let headers: [String: String]
    let body: String

    /// The body parsed as JSON, `nil` when it is not JSON.
    var json: JSONValue? { try? JSONParser.parse(Array(self.body.utf8)) }
}

extension TestRelay {
    /// `GET path` as one raw HTTP/1.1 request over a fresh TCP connection (`Connection: close`).
    func get(_ path: String, headers: [String: String] = [:]) async throws -> TestHTTPResponse {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let raw = try await channel.executeThenClose { inbound, outbound in
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(self.port)\r\nConnection: close\r\n"
            for (name, value) in headers { request += "\(name): \(value)\r\n" }
            request += "\r\n"
            try await outbound.write(ByteBuffer(string: request))
            var response = ByteBuffer()
            for try await var chunk in inbound { response.writeBuffer(&chunk) }
            return String(buffer: response)
        }
        return try Self.parse(raw)
    }

    private static func parse(_ raw: String) throws -> TestHTTPResponse {
        guard let split = raw.range(of: "\r\n\r\n") else { throw TestFailure("incomplete HTTP response: \(raw)") }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestFailure("bad status line in: \(raw)") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try Self.dechunk(body) }
        return TestHTTPResponse(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ text: String) throws -> String {
        var rest = Substring(text)
        var body = ""
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound].split(separator: ";").first ?? "", radix: 16) else {
                throw TestFailure("bad chunk size in: \(text)")
            }
            if size == 0 { break }
            let start = lineEnd.upperBound
            let utf8 = rest.utf8
            guard let end = utf8.index(start, offsetBy: size, limitedBy: utf8.endIndex) else { throw TestFailure("short chunk in: \(text)") }
            body += String(decoding: utf8[start..<end], as: UTF8.self)
            rest = rest[end...].dropFirst(2)
        }
        return body
    }
}
