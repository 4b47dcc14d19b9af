import Testing
@testable import Plugins
@testable import RelayKernel

@Suite("RecordingSession")
struct RecordingSessionTests {
    let desktop = ClientID("desktop")
    let phone = ClientID("phone")
    let tablet = ClientID("tablet")

    /// A session with the desktop and the phone in it.
    func ready() throws -> RecordingSession {
        var session = RecordingSession.created(id: "s1", now: 1_000)
        _ = try session.join(client: self.desktop, deviceType: "desktop", viewType: "front", now: 1_000, maxDevices: 4)
        _ = try session.join(client: self.phone, deviceType: "mobile", viewType: "side", now: 1_001, maxDevices: 4)
        return session
    }

    @Test func statusFollowsDevicesAndTheTake() throws {
        var session = RecordingSession.created(id: "s1", now: 0)
        #expect(session.status(minDevices: 2) == .waiting)
        _ = try session.join(client: self.desktop, deviceType: "desktop", viewType: nil, now: 0, maxDevices: 4)
        #expect(session.status(minDevices: 2) == .waiting)
        #expect(session.status(minDevices: 1) == .ready)
        _ = try session.join(client: self.phone, deviceType: "mobile", viewType: nil, now: 0, maxDevices: 4)
        #expect(session.status(minDevices: 2) == .ready)
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 10, lead: 500, minDevices: 2)
        #expect(session.status(minDevices: 2) == .recording)
        _ = session.stop(now: 20, reason: "requested")
        #expect(session.status(minDevices: 2) == .uploading)
        _ = try session.upload(from: self.desktop, recordingId: "a", fileSizeBytes: 1, take: nil, now: 30)
        #expect(session.status(minDevices: 2) == .uploading)
        _ = try session.upload(from: self.phone, recordingId: "b", fileSizeBytes: 1, take: nil, now: 31)
        #expect(session.status(minDevices: 2) == .completed)
    }

    @Test func joinIsIdempotentAndBounded() throws {
        var session = try self.ready()
        let again = try session.join(client: self.phone, deviceType: "mobile", viewType: "side", now: 5_000, maxDevices: 2)
        #expect(again == .alreadyJoined(session.devices[1]))
        #expect(session.devices.count == 2)
        #expect(throws: RelayError.self) {
            try session.join(client: self.tablet, deviceType: "mobile", viewType: nil, now: 5_000, maxDevices: 2)
        }
    }

    @Test func startStampsOneTakeForEveryDevicePresent() throws {
        var session = try self.ready()
        let take = try session.start(by: self.desktop, postureLabel: "standing", duration: 3_000, now: 10_000, lead: 500, minDevices: 2)
        #expect(take.number == 1)
        #expect(take.timestamp == 10_000)
        #expect(take.startAt == 10_500)
        #expect(take.participants == ["desktop", "phone"])
        #expect(throws: RelayError(.conflict, "take 1 of session 's1' is still recording")) {
            try session.start(by: self.desktop, postureLabel: "again", duration: 3_000, now: 10_001, lead: 500, minDevices: 2)
        }
    }

    @Test func startIsRefusedToOutsidersAndBelowMinDevices() throws {
        var session = RecordingSession.created(id: "s1", now: 0)
        _ = try session.join(client: self.desktop, deviceType: "desktop", viewType: nil, now: 0, maxDevices: 4)
        #expect(throws: RelayError.self) {
            try session.start(by: self.phone, postureLabel: "p", duration: 1, now: 0, lead: 0, minDevices: 1)
        }
        do {
            _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1, now: 0, lead: 0, minDevices: 2)
            Issue.record("a start with too few devices was accepted")
        } catch {
            #expect(error.code == .conflict)
        }
        #expect(session.take == nil)
    }

    @Test func stopIsIdempotentAndTheAutoStopOnlyStopsItsTake() throws {
        var session = try self.ready()
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 0, lead: 500, minDevices: 2)
        #expect(session.stop(now: 900, reason: "duration", take: 2) == .notRecording)
        guard case .stopped(let take, let completed) = session.stop(now: 1_500, reason: "duration", take: 1) else {
            Issue.record("the auto-stop of take 1 did not stop it")
            return
        }
        #expect(take.stoppedAt == 1_500 && take.stopReason == "duration" && !completed)
        #expect(session.stop(now: 1_600, reason: "requested") == .notRecording)
        #expect(session.take?.stoppedAt == 1_500)
    }

    @Test func uploadsAreIdempotentAndCompleteOnce() throws {
        var session = try self.ready()
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 0, lead: 500, minDevices: 2)
        _ = session.stop(now: 2_000, reason: "requested")
        guard case .recorded(_, completed: false) = try session.upload(from: self.phone, recordingId: "r1", fileSizeBytes: 10, take: nil, now: 3_000)
        else { Issue.record("first upload"); return }
        guard case .duplicate = try session.upload(from: self.phone, recordingId: "r1-again", fileSizeBytes: 11, take: 1, now: 3_001)
        else { Issue.record("repeated upload"); return }
        #expect(session.take?.uploads["phone"]?.recordingId == "r1")
        guard case .recorded(let take, completed: true) = try session.upload(from: self.desktop, recordingId: "r2", fileSizeBytes: 20, take: nil, now: 3_002)
        else { Issue.record("last upload did not complete the take"); return }
        #expect(take.completedAt == 3_002)
        guard case .duplicate = try session.upload(from: self.desktop, recordingId: "r2", fileSizeBytes: 20, take: nil, now: 3_003)
        else { Issue.record("upload after completion"); return }
        #expect(session.take?.completedAt == 3_002)
    }

    @Test func uploadsBeforeTheStopCompleteAtTheStop() throws {
        var session = try self.ready()
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 0, lead: 0, minDevices: 2)
        _ = try session.upload(from: self.phone, recordingId: "a", fileSizeBytes: 1, take: nil, now: 1)
        guard case .recorded(_, completed: false) = try session.upload(from: self.desktop, recordingId: "b", fileSizeBytes: 1, take: nil, now: 2)
        else { Issue.record("an upload completed a take still recording"); return }
        guard case .stopped(_, completed: true) = session.stop(now: 3, reason: "requested") else {
            Issue.record("the stop did not complete a fully uploaded take")
            return
        }
    }

    @Test func onlyParticipantsOfTheLatestTakeUpload() throws {
        var session = try self.ready()
        #expect(throws: RelayError.self) {
            try session.upload(from: self.phone, recordingId: "r", fileSizeBytes: 1, take: nil, now: 0)
        }
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 0, lead: 0, minDevices: 2)
        _ = try session.join(client: self.tablet, deviceType: "mobile", viewType: nil, now: 1, maxDevices: 4)
        #expect(throws: RelayError.self) {
            try session.upload(from: self.tablet, recordingId: "late", fileSizeBytes: 1, take: nil, now: 2)
        }
        #expect(throws: RelayError.self) {
            try session.upload(from: self.phone, recordingId: "r", fileSizeBytes: 1, take: 7, now: 2)
        }
        #expect(throws: RelayError.self) {
            try session.upload(from: ClientID("stranger"), recordingId: "r", fileSizeBytes: 1, take: nil, now: 2)
        }
    }

    @Test func aNewTakeWaitsForUploadsOfDevicesStillPresent() throws {
        var session = try self.ready()
        _ = try session.start(by: self.desktop, postureLabel: "one", duration: 1_000, now: 0, lead: 0, minDevices: 2)
        _ = session.stop(now: 10, reason: "requested")
        _ = try session.upload(from: self.desktop, recordingId: "d", fileSizeBytes: 1, take: nil, now: 11)
        #expect(throws: RelayError.self) {
            try session.start(by: self.desktop, postureLabel: "two", duration: 1_000, now: 12, lead: 0, minDevices: 1)
        }
        // The phone leaves for good without uploading: take 1 can never complete, so a new take may start.
        #expect(session.leave(client: self.phone)?.deviceId == "phone")
        #expect(session.status(minDevices: 1) == .uploading)
        let second = try session.start(by: self.desktop, postureLabel: "two", duration: 1_000, now: 13, lead: 0, minDevices: 1)
        #expect(second.number == 2 && second.participants == ["desktop"])
    }

    @Test func leaveRemovesOnlyThatDevice() throws {
        var session = try self.ready()
        #expect(session.leave(client: self.tablet) == nil)
        #expect(session.leave(client: self.desktop)?.deviceType == "desktop")
        #expect(session.devices.map(\.deviceId) == ["phone"])
        #expect(session.status(minDevices: 2) == .waiting)
    }

    @Test func storedFormRoundTrips() throws {
        var session = try self.ready()
        _ = try session.start(by: self.desktop, postureLabel: "p", duration: 1_000, now: 100, lead: 500, minDevices: 2)
        _ = session.stop(now: 1_700, reason: "duration")
        _ = try session.upload(from: self.phone, recordingId: "r", fileSizeBytes: 42, take: 1, now: 1_800)
        let stored = session.json(minDevices: 2)
        #expect(stored["status"] == "UPLOADING")
        let read = try #require(RecordingSession(json: stored))
        #expect(read == session)
        #expect(RecordingSession(json: ["id": "x"]) == nil)
    }
}
