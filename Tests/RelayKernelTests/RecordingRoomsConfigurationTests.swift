import Foundation
import Testing
@testable import Plugins
@testable import RelayKernel

@Suite("RecordingRoomsConfiguration")
struct RecordingRoomsConfigurationTests {
    func decode(_ json: String) throws -> RecordingRoomsConfiguration {
        try JSONDecoder().decode(RecordingRoomsConfiguration.self, from: Data(json.utf8))
    }

    @Test func defaults() throws {
        let configuration = try self.decode("{}")
        #expect(configuration.startLeadMilliseconds == 500)
        #expect(configuration.autoStop)
        #expect(configuration.controllerDeviceTypes == ["desktop"])
        #expect(configuration.controllerClaims.isEmpty)
        #expect(configuration.minDevices == 2)
    }

    @Test func unknownKeysAndBadValuesAreRefused() {
        for (json, path) in [
            (#"{"startLeed": 1}"#, "startLeed"),
            (#"{"startLead": -1}"#, "startLead"),
            (#"{"minDevices": 3, "maxDevices": 2}"#, "maxDevices"),
            (#"{"controllerClaims": {"role": []}}"#, "controllerClaims"),
        ] {
            let error = #expect(throws: RelayConfigError.self) { try self.decode(json) }
            #expect(error?.issues.map(\.path) == [path], "\(json)")
        }
    }

    @Test func controllersByDeviceType() throws {
        let configuration = try self.decode("{}")
        #expect(configuration.mayControl(deviceType: "desktop", claims: [:]))
        #expect(!configuration.mayControl(deviceType: "mobile", claims: [:]))
        let anyone = try self.decode(#"{"controllerDeviceTypes": []}"#)
        #expect(anyone.mayControl(deviceType: "mobile", claims: [:]))
        #expect(anyone.controllerDescription == "any device in the session")
    }

    @Test func controllersByClaim() throws {
        let configuration = try self.decode(#"{"controllerDeviceTypes": [], "controllerClaims": {"role": ["operator", "admin"], "org": "acme"}}"#)
        #expect(configuration.controllerClaims == ["role": ["operator", "admin"], "org": ["acme"]])
        #expect(configuration.mayControl(deviceType: "mobile", claims: ["role": "admin", "org": "acme"]))
        #expect(configuration.mayControl(deviceType: "mobile", claims: ["role": ["viewer", "operator"], "org": "acme"]))
        #expect(!configuration.mayControl(deviceType: "mobile", claims: ["role": "viewer", "org": "acme"]))
        #expect(!configuration.mayControl(deviceType: "mobile", claims: ["role": "admin"]))
        #expect(!configuration.mayControl(deviceType: "mobile", claims: [:]))
        let both = try self.decode(#"{"controllerClaims": {"role": "operator"}}"#)
        #expect(!both.mayControl(deviceType: "mobile", claims: ["role": "operator"]))
        #expect(both.mayControl(deviceType: "desktop", claims: ["role": "operator"]))
        #expect(both.controllerDescription == "deviceType desktop and claim role = operator")
    }
}
