import ArgumentParser
import Foundation
import RelayKernel

/// `relay token --sub U --claim k=v …`: a development HS256 token signed with `RELAY_JWT_SECRET`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Mint a development JWT (HS256, RELAY_JWT_SECRET).")

    @Option(help: "Subject (user id).")
    var sub: String

    @Option(name: .customLong("claim"), help: "A claim as key=value; values that parse as JSON are JSON.")
    var claims: [String] = []

    @Option(help: "Lifetime in seconds.")
    var ttl = 3600

    @Option(help: "Issuer (iss).")
    var issuer: String?

    @Option(help: "Audience (aud).")
    var audience: String?

    func run() async throws {
        guard let secret = ProcessInfo.processInfo.environment["RELAY_JWT_SECRET"] else {
            throw ValidationError("RELAY_JWT_SECRET is not set")
        }
        let now = Int(Date().timeIntervalSince1970)
        var payload: [String: JSONValue] = ["sub": .string(self.sub), "iat": .int(now), "exp": .int(now + self.ttl)]
        if let issuer { payload["iss"] = .string(issuer) }
        if let audience { payload["aud"] = .string(audience) }
        for claim in self.claims {
            guard let separator = claim.firstIndex(of: "=") else { throw ValidationError("--claim takes key=value, got '\(claim)'") }
            let value = String(claim[claim.index(after: separator)...])
            payload[String(claim[..<separator])] = (try? JSONParser.parse(Array(value.utf8))) ?? .string(value)
        }
        print(try await TokenVerifier.mintDevelopmentToken(secret: secret, claims: payload))
    }
}
