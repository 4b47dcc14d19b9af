/// The form a video consumer receives frames in.
enum MLVideoForm: String, CaseIterable, Sendable {
    /// Whatever form the producer sent (the default).
    case native
    /// Text frames `{"type":"video-frame",…,"data":<base64>}`.
    case json
    /// Binary frames: uint32 big-endian header length, JSON header, raw bytes.
    case binary

    /// The form requested by a `subscribe`'s `format` field (`json`, `binary`, absent or `auto`).
    init?(format: String?) {
        switch format {
        case nil, "auto", "native": self = .native
        case "json": self = .json
        case "binary": self = .binary
        default: return nil
        }
    }
}
