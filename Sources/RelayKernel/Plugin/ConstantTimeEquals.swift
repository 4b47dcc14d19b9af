/// Whether two secrets (API keys, tokens) are equal, comparing every byte whatever differs
/// first, so the time taken does not tell an attacker how much of a guess was right.
///
/// ```swift
/// guard constantTimeEquals(given, expected) else { throw RelayError(.unauthenticated, "wrong token") }
/// ```
public func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let left = Array(lhs.utf8)
    let right = Array(rhs.utf8)
    var difference = UInt8(left.count == right.count ? 0 : 1)
    for index in 0..<max(left.count, right.count) {
        difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
    }
    return difference == 0
}
