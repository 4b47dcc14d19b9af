// The modules whose types the kernel's public API uses: a plugin that imports RelayKernel can
// log through `context.logger` and handle `ByteBuffer`s without importing them itself.
@_exported public import Logging
@_exported public import NIOCore
