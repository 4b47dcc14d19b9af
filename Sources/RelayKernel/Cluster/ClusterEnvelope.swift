import NIOCore

/// What one node sends another through the backplane, in a compact binary form.
///
/// Messages keep the structure of ``OutboundMessage`` (a JSON object, a Socket.IO event with
/// attachments, an acknowledgement or a binary frame) so the receiving node derives every wire
/// form itself: nothing is re-encoded per recipient, on either side.
enum ClusterEnvelope: Sendable {
    /// A message for one client.
    case client(ClientID, OutboundMessage, policy: RouteSettings.OverflowPolicy, hops: UInt8)
    /// A message for the receiving node's members of a room.
    case room(RoomKey, OutboundMessage, except: ClientID?, policy: RouteSettings.OverflowPolicy)
    /// A node that took over a client's identity asks its previous node for the client's queue.
    case handoverRequest(ClientID, toNode: String, lastSeen: Int)
    /// The previous node's answer: the frames the client has not seen, numbered, in order
    /// (`nil` when it no longer had the client).
    case handover(ClientID, frames: [HandedFrame]?, lastSequence: Int)
    /// Marks a point in this node's outbound stream for a client it just took over: once it
    /// comes back, everything sent to the client before the takeover has arrived.
    case fence(ClientID)
    /// A server API call node `from` asks this node to answer for its own clients
    /// (``ControlRequest`` as JSON).
    case control(id: String, from: String, body: ByteBuffer)
    /// A node's answer to call `id` (JSON).
    case controlAnswer(id: String, from: String, body: ByteBuffer)
    /// An Engine.IO long-polling request (a `GET`, or a `POST` with its body) that reached a node
    /// other than the one holding session `sid`; the answer goes back to `replyTo` as `request`.
    case pollRequest(UInt64, sid: String, post: ByteBuffer?, replyTo: String)
    /// The answer to a forwarded long-polling request (or to an upgrade step).
    case pollResponse(UInt64, status: Int, contentType: String, body: ByteBuffer)
    /// A step of the upgrade of long-polling session `sid` to a WebSocket that reached a node
    /// other than the session's (see ``EngineIORemoteUpgrade``); answered as `pollResponse`.
    case upgradeRequest(UInt64, sid: String, step: EngineIORemoteUpgrade.Step, replyTo: String)

    /// The `hops` of a message this node sent to one of its own clients through the cluster
    /// (see ``ClientSession/startDiverting()``).
    static let divertedHops: UInt8 = 2

    /// A queued frame on its way to another node.
    struct HandedFrame: Sendable {
        var sequence: Int?
        var droppable: Bool
        var message: OutboundMessage
        /// Its row in the cluster, when it came through the database.
        var ref: ClusterFrameRef? = nil
    }

    private enum Tag: UInt8 {
        case client = 1, room, handoverRequest, handover, handoverRefused, fence, pollGet, pollPost, pollResponse, upgradeProbe, upgradeTakeOver
        case control = 20, controlAnswer
    }

    private enum ContentTag: UInt8 {
        case object = 1, event, ack, binary
    }

    struct DecodingError: Error {}

    // MARK: Encoding

    /// The envelope's bytes.
    var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case .client(let id, let message, let policy, let hops):
            buffer.writeInteger(Tag.client.rawValue)
            Self.write(id.rawValue, into: &buffer)
            buffer.writeInteger(Self.policyByte(policy))
            buffer.writeInteger(hops)
            Self.write(message, into: &buffer)
        case .room(let room, let message, let except, let policy):
            buffer.writeInteger(Tag.room.rawValue)
            Self.write(room.instance, into: &buffer)
            Self.write(room.name, into: &buffer)
            Self.write(except?.rawValue ?? "", into: &buffer)
            buffer.writeInteger(Self.policyByte(policy))
            Self.write(message, into: &buffer)
        case .handoverRequest(let id, let node, let lastSeen):
            buffer.writeInteger(Tag.handoverRequest.rawValue)
            Self.write(id.rawValue, into: &buffer)
            Self.write(node, into: &buffer)
            buffer.writeInteger(Int64(lastSeen))
        case .fence(let id):
            buffer.writeInteger(Tag.fence.rawValue)
            Self.write(id.rawValue, into: &buffer)
        case .control(let id, let node, let body), .controlAnswer(let id, let node, let body):
            buffer.writeInteger((self.isControlAnswer ? Tag.controlAnswer : Tag.control).rawValue)
            Self.write(id, into: &buffer)
            Self.write(node, into: &buffer)
            Self.write(body, into: &buffer)
        case .pollRequest(let request, let sid, let post, let replyTo):
            buffer.writeInteger(post == nil ? Tag.pollGet.rawValue : Tag.pollPost.rawValue)
            buffer.writeInteger(request)
            Self.write(sid, into: &buffer)
            Self.write(replyTo, into: &buffer)
            if let post { Self.write(post, into: &buffer) }
        case .upgradeRequest(let request, let sid, let step, let replyTo):
            buffer.writeInteger((step == .probe ? Tag.upgradeProbe : Tag.upgradeTakeOver).rawValue)
            buffer.writeInteger(request)
            Self.write(sid, into: &buffer)
            Self.write(replyTo, into: &buffer)
        case .pollResponse(let request, let status, let contentType, let body):
            buffer.writeInteger(Tag.pollResponse.rawValue)
            buffer.writeInteger(request)
            buffer.writeInteger(UInt16(clamping: status))
            Self.write(contentType, into: &buffer)
            Self.write(body, into: &buffer)
        case .handover(let id, nil, let lastSequence):
            buffer.writeInteger(Tag.handoverRefused.rawValue)
            Self.write(id.rawValue, into: &buffer)
            buffer.writeInteger(Int64(lastSequence))
        case .handover(let id, let frames?, let lastSequence):
            buffer.writeInteger(Tag.handover.rawValue)
            Self.write(id.rawValue, into: &buffer)
            buffer.writeInteger(Int64(lastSequence))
            buffer.writeInteger(UInt32(frames.count))
            for frame in frames {
                buffer.writeInteger(Int64(frame.sequence ?? -1))
                buffer.writeInteger(UInt8(frame.droppable ? 1 : 0))
                Self.write(frame.message, into: &buffer)
                Self.write(frame.ref?.inbox ?? "", into: &buffer)
                buffer.writeInteger(frame.ref?.seq ?? -1)
            }
        }
        return buffer
    }

    private var isControlAnswer: Bool {
        if case .controlAnswer = self { return true }
        return false
    }

    private static func policyByte(_ policy: RouteSettings.OverflowPolicy) -> UInt8 {
        policy == .dropOldest ? 1 : 0
    }

    private static func write(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(text.utf8.count))
        buffer.writeString(text)
    }

    private static func write(_ bytes: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }

    private static func write(_ list: [ByteBuffer], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(list.count))
        for bytes in list { Self.write(bytes, into: &buffer) }
    }

    private static func write(_ message: OutboundMessage, into buffer: inout ByteBuffer) {
        Self.write(message.type, into: &buffer)
        switch message.content {
        case .object(let bytes):
            buffer.writeInteger(ContentTag.object.rawValue)
            Self.write(bytes, into: &buffer)
        case .binary(let bytes):
            buffer.writeInteger(ContentTag.binary.rawValue)
            Self.write(bytes, into: &buffer)
        case .event(let arguments, let attachments):
            buffer.writeInteger(ContentTag.event.rawValue)
            Self.write(arguments, into: &buffer)
            Self.write(attachments, into: &buffer)
        case .ack(let id, let arguments, let attachments):
            buffer.writeInteger(ContentTag.ack.rawValue)
            buffer.writeInteger(Int64(id))
            Self.write(arguments, into: &buffer)
            Self.write(attachments, into: &buffer)
        case .raw(let bytes):
            // Protocol frames belong to one connection; sent elsewhere they travel as text.
            buffer.writeInteger(ContentTag.object.rawValue)
            Self.write(bytes, into: &buffer)
        }
    }

    // MARK: Decoding

    /// Reads an envelope; throws on bytes that are not one.
    init(decoding bytes: ByteBuffer) throws {
        var buffer = bytes
        guard let raw = buffer.readInteger(as: UInt8.self), let tag = Tag(rawValue: raw) else { throw DecodingError() }
        switch tag {
        case .client:
            let id = ClientID(try Self.readString(&buffer))
            let policy = try Self.readPolicy(&buffer)
            guard let hops = buffer.readInteger(as: UInt8.self) else { throw DecodingError() }
            self = .client(id, try Self.readMessage(&buffer), policy: policy, hops: hops)
        case .room:
            let room = RoomKey(instance: try Self.readString(&buffer), name: try Self.readString(&buffer))
            let except = try Self.readString(&buffer)
            let policy = try Self.readPolicy(&buffer)
            self = .room(room, try Self.readMessage(&buffer), except: except.isEmpty ? nil : ClientID(except), policy: policy)
        case .handoverRequest:
            let id = ClientID(try Self.readString(&buffer))
            let node = try Self.readString(&buffer)
            self = .handoverRequest(id, toNode: node, lastSeen: Int(try Self.readInt(&buffer)))
        case .fence:
            self = .fence(ClientID(try Self.readString(&buffer)))
        case .control:
            self = .control(id: try Self.readString(&buffer), from: try Self.readString(&buffer), body: try Self.readBytes(&buffer))
        case .controlAnswer:
            self = .controlAnswer(id: try Self.readString(&buffer), from: try Self.readString(&buffer), body: try Self.readBytes(&buffer))
        case .pollGet, .pollPost:
            guard let request = buffer.readInteger(as: UInt64.self) else { throw DecodingError() }
            let sid = try Self.readString(&buffer)
            let replyTo = try Self.readString(&buffer)
            self = .pollRequest(request, sid: sid, post: tag == .pollPost ? try Self.readBytes(&buffer) : nil, replyTo: replyTo)
        case .upgradeProbe, .upgradeTakeOver:
            guard let request = buffer.readInteger(as: UInt64.self) else { throw DecodingError() }
            let sid = try Self.readString(&buffer)
            self = .upgradeRequest(request, sid: sid, step: tag == .upgradeProbe ? .probe : .takeOver, replyTo: try Self.readString(&buffer))
        case .pollResponse:
            guard let request = buffer.readInteger(as: UInt64.self), let status = buffer.readInteger(as: UInt16.self) else { throw DecodingError() }
            let contentType = try Self.readString(&buffer)
            self = .pollResponse(request, status: Int(status), contentType: contentType, body: try Self.readBytes(&buffer))
        case .handoverRefused:
            let id = ClientID(try Self.readString(&buffer))
            self = .handover(id, frames: nil, lastSequence: Int(try Self.readInt(&buffer)))
        case .handover:
            let id = ClientID(try Self.readString(&buffer))
            let lastSequence = Int(try Self.readInt(&buffer))
            guard let count = buffer.readInteger(as: UInt32.self), count <= buffer.readableBytes else { throw DecodingError() }
            var frames: [HandedFrame] = []
            frames.reserveCapacity(Int(count))
            for _ in 0..<count {
                let sequence = try Self.readInt(&buffer)
                guard let droppable = buffer.readInteger(as: UInt8.self) else { throw DecodingError() }
                let message = try Self.readMessage(&buffer)
                let inbox = try Self.readString(&buffer)
                let seq = try Self.readInt(&buffer)
                let ref = inbox.isEmpty ? nil : ClusterFrameRef(inbox: inbox, seq: seq)
                frames.append(HandedFrame(sequence: sequence < 0 ? nil : Int(sequence), droppable: droppable == 1, message: message, ref: ref))
            }
            self = .handover(id, frames: frames, lastSequence: lastSequence)
        }
    }

    private static func readInt(_ buffer: inout ByteBuffer) throws -> Int64 {
        guard let value = buffer.readInteger(as: Int64.self) else { throw DecodingError() }
        return value
    }

    private static func readPolicy(_ buffer: inout ByteBuffer) throws -> RouteSettings.OverflowPolicy {
        guard let byte = buffer.readInteger(as: UInt8.self) else { throw DecodingError() }
        return byte == 1 ? .dropOldest : .close
    }

    private static func readBytes(_ buffer: inout ByteBuffer) throws -> ByteBuffer {
        guard let length = buffer.readInteger(as: UInt32.self), let bytes = buffer.readSlice(length: Int(length)) else { throw DecodingError() }
        return bytes
    }

    private static func readString(_ buffer: inout ByteBuffer) throws -> String {
        String(buffer: try Self.readBytes(&buffer))
    }

    private static func readList(_ buffer: inout ByteBuffer) throws -> [ByteBuffer] {
        guard let count = buffer.readInteger(as: UInt32.self), count <= buffer.readableBytes else { throw DecodingError() }
        return try (0..<count).map { _ in try Self.readBytes(&buffer) }
    }

    private static func readMessage(_ buffer: inout ByteBuffer) throws -> OutboundMessage {
        let type = try Self.readString(&buffer)
        guard let raw = buffer.readInteger(as: UInt8.self), let tag = ContentTag(rawValue: raw) else { throw DecodingError() }
        switch tag {
        case .object:
            return OutboundMessage(type: type, content: .object(try Self.readBytes(&buffer)))
        case .binary:
            return OutboundMessage(type: type, content: .binary(try Self.readBytes(&buffer)))
        case .event:
            let arguments = try Self.readList(&buffer)
            return OutboundMessage(type: type, content: .event(arguments: arguments, attachments: try Self.readList(&buffer)))
        case .ack:
            let id = Int(try Self.readInt(&buffer))
            let arguments = try Self.readList(&buffer)
            return OutboundMessage(type: type, content: .ack(id: id, arguments: arguments, attachments: try Self.readList(&buffer)))
        }
    }
}
