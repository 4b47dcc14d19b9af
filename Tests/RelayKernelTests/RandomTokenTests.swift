import Testing
@testable import RelayKernel

@Suite("RandomToken")
struct RandomTokenTests {
    @Test func tokensHaveTheLengthAndAlphabetAsked() {
        for length in [0, 1, 7, 8, 9, 20, 32, 100] {
            let token = RandomToken.make(length: length)
            #expect(token.utf8.count == length)
            #expect(token.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) })
        }
    }

    @Test func everyCharacterOfTheAlphabetTurnsUpAndTokensDiffer() {
        let tokens = (0..<200).map { _ in RandomToken.make(length: 32) }
        #expect(Set(tokens).count == tokens.count)
        // 6,400 characters from 62: each one is expected about 103 times.
        let counts = Dictionary(tokens.joined().map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { $0 > 40 })
    }
}
