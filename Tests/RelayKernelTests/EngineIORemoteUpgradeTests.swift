import NIOCore
import NIOWebSocket
import Testing
@testable import RelayKernel

/// ``EngineIORemoteUpgrade``: what a node hands to the node a client's WebSocket reached, and
/// the envelopes that carry the upgrade's steps.
@Suite("EngineIORemoteUpgrade")
struct EngineIORemoteUpgradeTests {
    @Test func theConnectionsPartSurvivesTheTrip() throws {
        let identity = VerifiedIdentity(userId: "ada", claims: ["sub": "ada", "role": "admin"], expiresAt: 2_000_000_000)
        let unsent = [
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "42[\"direct\",{\"n\":1}]")),
            WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [0, 1, 0x1E, 255])),
        ]
        let handover = ClientConnection.Handover(
            identity: identity,
            tokenLifetime: TokenLifetime(identity),
            authDeadline: (.now() + .seconds(8), CloseReason(.policyViolation, "no namespace connected in time")),
            sessions: [],
            unsent: unsent
        )
        let decoded = try #require(EngineIORemoteUpgrade.decode(EngineIORemoteUpgrade.encode(handover)))
        #expect(decoded.handover.identity == identity)
        #expect(decoded.handover.tokenLifetime?.expiresAt == 2_000_000_000)
        #expect(decoded.handover.unsent.map(\.opcode) == [.text, .binary])
        #expect(decoded.handover.unsent.map { Array($0.data.readableBytesView) } == unsent.map { Array($0.data.readableBytesView) })
        let deadline = try #require(decoded.handover.authDeadline)
        #expect(deadline.reason == CloseReason(.policyViolation, "no namespace connected in time"))
        #expect(deadline.at > .now() + .seconds(7) && deadline.at <= .now() + .seconds(8))
        #expect(decoded.moved.isEmpty)
    }

    @Test func anAnonymousClientWithNothingUnsentHasNoIdentityNoDeadlineAndNoFrames() throws {
        let handover = ClientConnection.Handover(identity: nil, tokenLifetime: nil, authDeadline: nil, sessions: [], unsent: [])
        let decoded = try #require(EngineIORemoteUpgrade.decode(EngineIORemoteUpgrade.encode(handover)))
        #expect(decoded.handover.identity == nil && decoded.handover.tokenLifetime == nil)
        #expect(decoded.handover.authDeadline == nil && decoded.handover.unsent.isEmpty)
    }

    @Test func movedSessionsAreReadAndAnythingElseIsRefused() {
        let body = ByteBuffer(string: #"{"sessions":[{"namespace":"/","token":"pid-1","written":41},{"namespace":"/chat","token":"pid-2","written":0}],"unsent":""}"#)
        #expect(EngineIORemoteUpgrade.decode(body)?.moved == [
            EngineIORemoteUpgrade.Moved(namespace: "/", token: "pid-1", written: 41),
            EngineIORemoteUpgrade.Moved(namespace: "/chat", token: "pid-2", written: 0),
        ])
        for broken in [#"{"unsent":""}"#, #"{"sessions":[{"namespace":"/"}],"unsent":""}"#, #"{"sessions":[],"unsent":"b!!"}"#, "[]", "not json"] {
            #expect(EngineIORemoteUpgrade.decode(ByteBuffer(string: broken)) == nil, "\(broken)")
        }
    }

    @Test func upgradeStepsTravelAsEnvelopes() throws {
        for step in [EngineIORemoteUpgrade.Step.probe, .takeOver] {
            let bytes = ClusterEnvelope.upgradeRequest(9, sid: "a.xyz", step: step, replyTo: "b_1").encoded
            guard case .upgradeRequest(let request, let sid, let decodedStep, let replyTo) = try ClusterEnvelope(decoding: bytes) else {
                Issue.record("not an upgrade request")
                continue
            }
            #expect(request == 9 && sid == "a.xyz" && decodedStep == step && replyTo == "b_1")
        }
    }
}
