import CompressNIO
import NIOCore

/// Decompresses the frames of a peer's compressed messages (permessage-deflate), never producing
/// more than the message limit: a decompression bomb stops at the limit, not in memory.
final class MessageInflater {
    enum Failure: Error {
        /// The message inflates past the limit.
        case tooLarge
        /// The data is not a valid deflate stream.
        case corrupt
    }

    /// The empty stored block that ends every compressed message and that senders leave off.
    private static let tail = ByteBuffer(bytes: [0x00, 0x00, 0xFF, 0xFF])

    private let decompressor: ZlibDecompressor
    private let resetAfterMessage: Bool

    init(_ parameters: PerMessageDeflate) throws {
        // Inflating with a wider window than the sender's is always correct, and zlib's deflate
        // turns a requested window of 8 into 9.
        self.decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: Int32(max(parameters.clientMaxWindowBits, 9)))
        self.resetAfterMessage = parameters.clientNoContextTakeover
    }

    /// Inflates one frame's payload (the last frame of a message when `final`), producing at most
    /// `limit` bytes.
    func inflate(_ input: ByteBuffer, final: Bool, limit: Int, allocator: ByteBufferAllocator) throws(Failure) -> ByteBuffer {
        var output = allocator.buffer(capacity: min(max(input.readableBytes * 4, 256), limit + 1))
        try self.inflate(input, into: &output, limit: limit)
        if final {
            try self.inflate(Self.tail, into: &output, limit: limit)
            if self.resetAfterMessage { try? self.decompressor.reset() }
        }
        return output
    }

    private func inflate(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(Failure) {
        var input = input
        guard input.readableBytes > 0 else { return }
        while true {
            let pending = input.readableBytes
            do {
                try self.decompressor.inflate(from: &input, to: &output)
                guard output.readableBytes <= limit else { throw Failure.tooLarge }
                guard input.readableBytes > 0 else { return }
                guard input.readableBytes < pending else { throw Failure.corrupt }
                // The stream ended (a block with BFINAL set, RFC 7692 §7.2.3.4) before the input:
                // what follows starts a new stream.
                try? self.decompressor.reset()
            } catch let error as Failure {
                throw error
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output is full: grow it, up to one byte past the limit.
                guard output.readableBytes <= limit else { throw .tooLarge }
                let room = min(max(output.capacity, 256), limit + 1 - output.readableBytes)
                guard room > 0 else { throw .tooLarge }
                output.reserveCapacity(minimumWritableBytes: room)
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                // Every input byte was consumed.
                guard output.readableBytes <= limit else { throw .tooLarge }
                return
            } catch {
                throw .corrupt
            }
        }
    }
}
