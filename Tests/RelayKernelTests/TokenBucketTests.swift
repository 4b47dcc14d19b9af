import NIOCore
import Testing
@testable import RelayKernel

/// Holds a bucket so `#expect` can call its mutating `take`.
final class BucketBox {
    var bucket: TokenBucket
    init(rate: Double, capacity: Int, now: NIODeadline) {
        self.bucket = TokenBucket(rate: rate, capacity: capacity, now: now)
    }
    func take(now: NIODeadline) -> Bool { self.bucket.take(now: now) }
}

@Suite("TokenBucket")
struct TokenBucketTests {
    let start = NIODeadline.now()

    @Test func burstThenRefuse() {
        let bucket = BucketBox(rate: 10, capacity: 3, now: self.start)
        #expect(bucket.take(now: self.start))
        #expect(bucket.take(now: self.start))
        #expect(bucket.take(now: self.start))
        #expect(!bucket.take(now: self.start))
        #expect(!bucket.take(now: self.start))
    }

    @Test func refillsAtTheRate() {
        let bucket = BucketBox(rate: 10, capacity: 3, now: self.start)
        for _ in 0..<3 { _ = bucket.take(now: self.start) }
        #expect(!bucket.take(now: self.start))
        // 10 per second: one token after 100 ms, not before.
        #expect(!bucket.take(now: self.start + .milliseconds(50)))
        #expect(bucket.take(now: self.start + .milliseconds(100)))
        #expect(!bucket.take(now: self.start + .milliseconds(100)))
        // Two more after another 200 ms.
        #expect(bucket.take(now: self.start + .milliseconds(300)))
        #expect(bucket.take(now: self.start + .milliseconds(300)))
        #expect(!bucket.take(now: self.start + .milliseconds(300)))
    }

    @Test func partialTokensAccumulateAcrossRefusedTakes() {
        let bucket = BucketBox(rate: 4, capacity: 1, now: self.start)
        #expect(bucket.take(now: self.start))
        #expect(!bucket.take(now: self.start + .milliseconds(125)))  // 0.5 token
        #expect(bucket.take(now: self.start + .milliseconds(250)))  // 1.0 token
    }

    @Test func refillIsCappedAtTheCapacity() {
        let bucket = BucketBox(rate: 100, capacity: 5, now: self.start)
        for _ in 0..<5 { #expect(bucket.take(now: self.start)) }
        let later = self.start + .seconds(3600)
        for _ in 0..<5 { #expect(bucket.take(now: later)) }
        #expect(!bucket.take(now: later))
    }

    @Test func fractionalRates() {
        let bucket = BucketBox(rate: 0.5, capacity: 1, now: self.start)
        #expect(bucket.take(now: self.start))
        #expect(!bucket.take(now: self.start + .milliseconds(1999)))
        #expect(bucket.take(now: self.start + .seconds(2)))
    }

    @Test func rateZeroNeverLimits() {
        let bucket = BucketBox(rate: 0, capacity: 1, now: self.start)
        for _ in 0..<10_000 { #expect(bucket.take(now: self.start)) }
    }
}
