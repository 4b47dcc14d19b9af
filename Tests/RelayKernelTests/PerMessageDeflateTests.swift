import Foundation
import Testing
@testable import RelayKernel

/// ``PerMessageDeflate``: negotiating a `Sec-WebSocket-Extensions` offer (RFC 7692 §5, §7.1)
/// and the answer it gives.
@Suite("PerMessageDeflate")
struct PerMessageDeflateTests {
    private func settings(enabled: Bool = true, noContextTakeover: Bool = false, maxWindowBits: Int = 15) -> CompressionSettings {
        var settings = CompressionSettings()
        settings.enabled = enabled
        settings.noContextTakeover = noContextTakeover
        settings.maxWindowBits = maxWindowBits
        return settings
    }

    private func negotiate(_ offers: String..., settings: CompressionSettings? = nil) -> PerMessageDeflate? {
        PerMessageDeflate.negotiate(offers: offers, settings: settings ?? self.settings())
    }

    // MARK: Accepting

    @Test func nothingIsNegotiatedWhenCompressionIsOff() {
        #expect(self.negotiate("permessage-deflate", settings: self.settings(enabled: false)) == nil)
    }

    @Test func nothingIsNegotiatedWithoutAPermessageDeflateOffer() {
        #expect(PerMessageDeflate.negotiate(offers: [], settings: self.settings()) == nil)
        #expect(self.negotiate("x-webkit-deflate-frame") == nil)
        #expect(self.negotiate("permessage-deflate-v2") == nil)
    }

    @Test func aPlainOfferGetsTheEndpointsSettings() {
        let plain = self.negotiate("permessage-deflate")
        #expect(plain == PerMessageDeflate())
        #expect(plain?.responseHeader == "permessage-deflate")

        let reset = self.negotiate("permessage-deflate", settings: self.settings(noContextTakeover: true, maxWindowBits: 12))
        #expect(reset == PerMessageDeflate(serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 15))
        #expect(reset?.responseHeader == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12")
    }

    @Test func contextTakeoverParametersAreHonoured() {
        let both = self.negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(both?.serverNoContextTakeover == true)
        #expect(both?.clientNoContextTakeover == true)
        #expect(both?.responseHeader == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    }

    @Test func serverMaxWindowBitsIsTheSmallerOfTheOfferAndTheSettings() {
        #expect(self.negotiate("permessage-deflate; server_max_window_bits=10")?.serverMaxWindowBits == 10)
        #expect(self.negotiate("permessage-deflate; server_max_window_bits=14", settings: self.settings(maxWindowBits: 11))?.serverMaxWindowBits == 11)
        #expect(self.negotiate("permessage-deflate; server_max_window_bits=10")?.responseHeader == "permessage-deflate; server_max_window_bits=10")
    }

    @Test func clientMaxWindowBitsWithoutAValueLetsTheServerNarrowTheClientsWindow() {
        let narrowed = self.negotiate("permessage-deflate; client_max_window_bits", settings: self.settings(maxWindowBits: 12))
        #expect(narrowed?.clientMaxWindowBits == 12)
        #expect(narrowed?.responseHeader == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
        // With the widest window there is nothing to say.
        #expect(self.negotiate("permessage-deflate; client_max_window_bits")?.responseHeader == "permessage-deflate")
    }

    @Test func theClientsWindowIsNotNarrowedUnlessTheOfferAllowsIt() {
        #expect(self.negotiate("permessage-deflate", settings: self.settings(maxWindowBits: 9))?.clientMaxWindowBits == 15)
    }

    @Test func clientMaxWindowBitsWithAValueIsKept() {
        let offered = self.negotiate("permessage-deflate; client_max_window_bits=10")
        #expect(offered?.clientMaxWindowBits == 10)
        #expect(offered?.responseHeader == "permessage-deflate; client_max_window_bits=10")
        // 8 is a valid client window (the server inflates with 9).
        #expect(self.negotiate("permessage-deflate; client_max_window_bits=8")?.clientMaxWindowBits == 8)
    }

    @Test func namesAreCaseInsensitiveAndSpacesAndQuotesAreIgnored() {
        let offer = self.negotiate("Permessage-Deflate ;  Server_No_Context_Takeover ; CLIENT_MAX_WINDOW_BITS = \"10\"")
        #expect(offer?.serverNoContextTakeover == true)
        #expect(offer?.clientMaxWindowBits == 10)
    }

    @Test func theFirstOfferThatCanBeHonouredIsAccepted() {
        // Within one header value, and across header lines.
        let inline = self.negotiate("permessage-deflate; server_max_window_bits=8, permessage-deflate; client_no_context_takeover")
        #expect(inline?.clientNoContextTakeover == true)
        #expect(inline?.serverMaxWindowBits == 15)
        let lines = self.negotiate("x-webkit-deflate-frame", "permessage-deflate; unknown=1", "permessage-deflate; server_max_window_bits=9")
        #expect(lines?.serverMaxWindowBits == 9)
    }

    // MARK: Declining

    @Test(arguments: [
        // zlib's raw deflate has no 256-byte window.
        "permessage-deflate; server_max_window_bits=8",
        // Values outside 8...15, missing or not numbers.
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=ten",
        "permessage-deflate; server_max_window_bits",
        // Parameters that take no value, given one.
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        // Repeated or unknown parameters.
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
        "permessage-deflate; mystery",
    ])
    func malformedOrUnsupportedOffersAreDeclined(_ offer: String) {
        #expect(self.negotiate(offer) == nil)
    }

    /// RFC 7692 §7.1.2.2: `client_max_window_bits` has no value or a value in 8...15; `=` with
    /// nothing after it is neither, and §5 has the server decline such an offer.
    @Test func anEmptyValueIsDeclined() {
        #expect(self.negotiate("permessage-deflate; client_max_window_bits=") == nil)
    }

    /// An empty parameter (`permessage-deflate; ;` or a trailing `; `) is malformed: the offer must
    /// be declined. The negotiation runs in the upgrade handshake of any endpoint with compression
    /// enabled, so a client sending this header must not be able to stop the process.
    @Test func anEmptyParameterIsDeclinedWithoutCrashing() async {
        await #expect(processExitsWith: .success) {
            var settings = CompressionSettings()
            settings.enabled = true
            let offers = ["permessage-deflate; ; client_max_window_bits", "permessage-deflate;  "]
            for offer in offers where PerMessageDeflate.negotiate(offers: [offer], settings: settings) != nil {
                exit(1)
            }
        }
    }
}
