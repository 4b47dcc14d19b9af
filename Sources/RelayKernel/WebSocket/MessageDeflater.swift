import CompressNIO
import NIOCore

/// Compresses the messages a server sends on a connection that negotiated permessage-deflate:
/// one sync-flushed deflate block per message, without its trailing `00 00 FF FF`.
final class MessageDeflater {
    /// Messages shorter than this are sent uncompressed (RSV1 clear), which RFC 7692 allows.
    static let minimumSize = 64

    private let compressor: ZlibCompressor
    private let resetAfterMessage: Bool

    init(_ parameters: PerMessageDeflate) throws {
        // Compression level 6 with memory level 8, as zlib's defaults, in the negotiated window.
        let configuration = ZlibConfiguration(windowSize: Int32(parameters.serverMaxWindowBits), compressionLevel: 6, memoryLevel: 8)
        self.compressor = try ZlibCompressor(algorithm: .deflate, configuration: configuration)
        self.resetAfterMessage = parameters.serverNoContextTakeover
    }

    /// The compressed form of one whole message.
    func deflate(_ message: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var input = message
        var output = allocator.buffer(capacity: self.compressor.maxSize(from: input))
        try self.compressor.deflate(from: &input, to: &output, flush: .sync)
        output.moveWriterIndex(to: output.writerIndex - 4)
        if self.resetAfterMessage { try self.compressor.reset() }
        return output
    }
}
