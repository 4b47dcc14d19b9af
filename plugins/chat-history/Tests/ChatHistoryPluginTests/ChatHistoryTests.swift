@testable import ChatHistoryPlugin
import Foundation
import RelayKernel
import Testing

/// The history on the kernel's in-memory store, without a server.
struct ChatHistoryTests {
    @Test func appendsAreNumberedAndBounded() async throws {
        let store = MemoryKeyValueStore()
        let history = ChatHistory(size: 2)
        for text in ["a", "b", "c"] {
            _ = try await history.append(to: "lobby", from: ClientID("c1"), user: "u1", text: text, in: store)
        }
        let kept = try await history.messages(in: "lobby", from: store)
        #expect(kept == [ChatHistory.Entry(seq: 2, from: ClientID("c1"), user: "u1", text: "b"), ChatHistory.Entry(seq: 3, from: ClientID("c1"), user: "u1", text: "c")])
        #expect(try await history.messages(in: "kitchen", from: store).isEmpty)
        #expect(try await store.keys(withPrefix: "") == ["room:lobby"])
    }

    @Test func concurrentAppendsNeverLoseOrReuseASequenceNumber() async throws {
        let store = MemoryKeyValueStore()
        let history = ChatHistory(size: 10)
        let sequenceNumbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 1...200 {
                group.addTask {
                    try await history.append(to: "lobby", from: ClientID("c\(index)"), user: nil, text: "t\(index)", in: store).seq
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sequenceNumbers.sorted() == Array(1...200))
        #expect(try await history.messages(in: "lobby", from: store).map(\.seq) == Array(191...200))
    }

    @Test func retentionForgetsAQuietRoom() async throws {
        let clock = RelayClock.manual()
        let store = MemoryKeyValueStore(now: { clock.instant })
        let history = ChatHistory(size: 5, ttl: .seconds(60))
        _ = try await history.append(to: "lobby", from: ClientID("c1"), user: nil, text: "one", in: store)
        clock.advance(by: .seconds(45))
        _ = try await history.append(to: "lobby", from: ClientID("c1"), user: nil, text: "two", in: store)
        clock.advance(by: .seconds(45))
        #expect(try await history.messages(in: "lobby", from: store).map(\.text) == ["one", "two"], "each write renews the room")
        clock.advance(by: .seconds(16))
        #expect(try await history.messages(in: "lobby", from: store).isEmpty)
        #expect(try await history.append(to: "lobby", from: ClientID("c1"), user: nil, text: "three", in: store).seq == 1)
    }

    @Test func configurationDefaultsAndOverrides() throws {
        #expect(try Self.decode("{}") == ChatHistoryConfiguration())
        let configuration = try Self.decode(#"{"historySize": 5, "maxTextLength": 100, "maxRoomLength": 8, "retention": 1.5, "httpPrefix": "/c"}"#)
        #expect(configuration.historySize == 5)
        #expect(configuration.maxTextLength == 100)
        #expect(configuration.maxRoomLength == 8)
        #expect(configuration.historyTTL == .milliseconds(1500))
        #expect(configuration.historyRoute == "/c/rooms/:room/history")
        #expect(ChatHistoryConfiguration().historyTTL == nil)
        // Decoded on its own, every problem is reported at once with its key path.
        let error = #expect(throws: RelayConfigError.self) {
            try Self.decode(#"{"historySize": 0, "httpPrefix": "/chat/", "maxTextLenght": 10}"#)
        }
        #expect(Set(error?.issues.map(\.path) ?? []) == ["historySize", "httpPrefix", "maxTextLenght"], "\(String(describing: error))")
    }

    private static func decode(_ json: String) throws -> ChatHistoryConfiguration {
        try JSONDecoder().decode(ChatHistoryConfiguration.self, from: Data(json.utf8))
    }
}
