import Foundation
import NIOCore
import RelayKernel

/// Fans a `video-frame` out to a stream's video consumers without re-encoding per recipient.
///
/// The frame is forwarded as the bytes it arrived as to consumers of its own form and to those
/// that take whatever the producer sends. Consumers of the other form share one conversion,
/// built only when such a consumer exists: a JSON frame's base64 `data` decoded into a binary
/// frame (header = the JSON object without `data`), or a binary frame's payload base64-encoded
/// into a JSON frame (the header's fields plus `data`).
enum MLVideoFanout {
    /// Queues `message` for every video consumer of `streamId`; never waits on a consumer.
    static func forward(_ message: RelayMessage, streamId: String, context: PluginContext) throws(RelayError) {
        let arrived: MLVideoForm = message.kind == .text ? .json : .binary
        let otherForm: MLVideoForm = arrived == .json ? .binary : .json
        let otherRoom = MLRooms.video(streamId, otherForm)
        // Convert before fanning out, so a frame that cannot be converted reaches nobody.
        let converted = context.memberCount(of: otherRoom) == 0 ? nil : try Self.convert(message)
        let asArrived = OutboundMessage(forwarding: message)
        context.publish(asArrived, to: MLRooms.video(streamId, .native))
        context.publish(asArrived, to: MLRooms.video(streamId, arrived))
        if let converted { context.publish(converted, to: otherRoom) }
    }

    /// The frame in the other form.
    static func convert(_ message: RelayMessage) throws(RelayError) -> OutboundMessage {
        switch message.kind {
        case .text:
            guard case .string(let text) = message.body["data"] else { throw RelayError.invalidField("data", expected: "a base64 string") }
            guard let bytes = Data(base64Encoded: text) else { throw RelayError(.invalidMessage, "field 'data' is not valid base64") }
            var header = message.body
            header.removeValue(forKey: "data")
            return .binary(header: .object(header), payload: ByteBuffer(bytes: bytes))
        case .binary:
            let payload = message.payload ?? ByteBuffer()
            var fields = message.body
            fields["data"] = .string(Data(payload.readableBytesView).base64EncodedString())
            return .json(type: message.type, fields: fields)
        }
    }
}
