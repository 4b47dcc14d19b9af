import NIOCore
import Testing
@testable import RelayKernel

/// ``SocketIOPacket``'s connection-state recovery helpers: the offset appended to events only.
@Suite("SocketIOPacket")
struct SocketIOPacketTests {
    private func offset(_ packet: String, _ offset: Int) -> String? {
        SocketIOPacket.withOffset(ByteBuffer(string: packet), offset).map { String(buffer: $0) }
    }

    @Test func eventsGetTheOffsetAsTheirLastArgument() {
        #expect(self.offset("42[\"message-back\",1,\"2\",{\"3\":[true]}]", 7) == "42[\"message-back\",1,\"2\",{\"3\":[true]},\"7\"]")
        #expect(self.offset("42/custom,[\"x\"]", 12) == "42/custom,[\"x\",\"12\"]")
        #expect(
            self.offset("451-[\"image\",{\"_placeholder\":true,\"num\":0}]", 3) == "451-[\"image\",{\"_placeholder\":true,\"num\":0},\"3\"]"
        )
    }

    @Test(arguments: ["43456[1]", "461-789[{\"_placeholder\":true,\"num\":0}]", "40{\"sid\":\"a\"}", "2", "3probe", "42"])
    func otherPacketsAreLeftAlone(packet: String) {
        #expect(self.offset(packet, 1) == nil)
    }
}
