import Foundation
import Plugins
import RelayKernel
import Testing

/// Plugin settings through the public ``ConfigFields`` / ``ConfigDecoder``: every problem at
/// once with its key path (and line and column from YAML), unknown keys refused, defaults from
/// the properties, and the kernel's settings types decodable anywhere.
@Suite("Plugin settings")
struct PluginSettingsTests {
    @Test func everyProblemIsReportedWithLineColumnAndKeyPath() throws {
        let yaml = """
            codeLenght: 6
            codeTTL: -1
            holdMessages: lots
            restPrefix: cam/
            """
        let error = #expect(throws: RelayConfigError.self) {
            try ConfigDecoder.decode(CameraPairingConfiguration.self, yaml: yaml, file: "pairing.yaml")
        }
        let issues = try #require(error?.issues)
        #expect(issues.map(\.path) == ["codeLenght", "codeTTL", "holdMessages", "restPrefix"])
        #expect(issues.map(\.line) == [1, 2, 3, 4])
        #expect(issues.map(\.column) == [1, 10, 15, 13])
        #expect(issues[0].message.hasPrefix("unknown key 'codeLenght' (known: codeLength, codeTTL"))
        #expect(issues[2].message == "expected an integer")
        #expect(error?.description.contains("pairing.yaml:2:10: codeTTL: must be positive") == true, "\(String(describing: error))")
    }

    @Test func defaultsComeFromThePropertiesAndOnlyGivenKeysChange() throws {
        let decoded = try ConfigDecoder.decode(CameraPairingConfiguration.self, yaml: "{codeLength: 8}")
        let defaults = CameraPairingConfiguration()
        #expect(decoded.codeLength == 8)
        #expect(decoded.codeTTL == defaults.codeTTL)
        #expect(decoded.restPrefix == defaults.restPrefix)
        // An empty or absent block is every default.
        #expect(try ConfigDecoder.decode(PortalViewConfiguration.self, yaml: "").restPrefix == PortalViewConfiguration().restPrefix)
        #expect(try ConfigDecoder.decode(MLAlertsConfiguration.self, from: .object([:])).serviceRoles == ["ml-service"])
    }

    @Test func nestedSettingsReportTheirPathAndPosition() throws {
        let yaml = """
            roleSource: hook
            hook:
              url: ftp://backend
              resource: ""
              retries: 3
            """
        let error = #expect(throws: RelayConfigError.self) {
            try ConfigDecoder.decode(PortalViewConfiguration.self, yaml: yaml)
        }
        let located = (error?.issues ?? []).map { "\($0.line ?? 0):\($0.column ?? 0) \($0.path)" }
        #expect(located == ["3:8 hook.url", "4:13 hook.resource", "5:3 hook.retries"], "\(String(describing: error))")
    }

    @Test func aSingleValueOrAListIsAccepted() throws {
        #expect(try ConfigDecoder.decode(MLAlertsConfiguration.self, yaml: "serviceRole: ml").serviceRoles == ["ml"])
        #expect(try ConfigDecoder.decode(MLAlertsConfiguration.self, yaml: "serviceRole: [ml, ops]").serviceRoles == ["ml", "ops"])
        let rooms = try ConfigDecoder.decode(RecordingRoomsConfiguration.self, yaml: "controllerClaims: {role: admin, team: [a, b]}")
        #expect(rooms.controllerClaims == ["role": ["admin"], "team": ["a", "b"]])
    }

    /// Decoded with Foundation's decoders (no route file, no ``ConfigDecoder``), every type
    /// still reports all of its problems instead of stopping the process.
    @Test func settingsDecodeWithPlainJSONDecoder() throws {
        let good = try JSONDecoder().decode(PubSubConfiguration.self, from: Data(#"{"echo": true}"#.utf8))
        #expect(good.echo)
        let error = #expect(throws: RelayConfigError.self) {
            try JSONDecoder().decode(PubSubConfiguration.self, from: Data(#"{"ekho": true, "maxTopicLength": 0}"#.utf8))
        }
        #expect(Set(error?.issues.map(\.path) ?? []) == ["ekho", "maxTopicLength"])

        let limits = try JSONDecoder().decode(LimitSettings.self, from: Data(#"{"burst": 5}"#.utf8))
        #expect(limits.burst == 5)
        #expect(limits.queueMessages == LimitSettings().queueMessages)
        let endpoint = try JSONDecoder().decode(EndpointSettings.self, from: Data(#"{"path": "/ws", "limits": {"burst": 7}}"#.utf8))
        #expect(endpoint.limits.burst == 7)
        let kernelError = #expect(throws: RelayConfigError.self) {
            try JSONDecoder().decode(EndpointSettings.self, from: Data(#"{"path": "ws", "limits": {"burst": 0, "qeue": 1}}"#.utf8))
        }
        #expect(Set(kernelError?.issues.map(\.path) ?? []) == ["path", "limits.burst", "limits.qeue"], "\(String(describing: kernelError))")
        let configuration = try JSONDecoder().decode(RelayConfiguration.self, from: Data(#"{"endpoints": [{"path": "/a"}]}"#.utf8))
        #expect(configuration.endpoints.map(\.path) == ["/a"])
    }

    @Test func aRouteFileReportsEveryPluginProblemWithItsFullPath() throws {
        let yaml = """
            endpoints:
              - {path: /ws, codec: json}
            plugins:
              pairing:
                plugin: camera-pairing
                config: {codeTTL: 0, idleTimeout: 0}
              chat:
                plugin: pubsub
                config:
                  ekho: true
            routes:
              - {endpoint: /ws, type: "cam-*", plugin: pairing}
              - {endpoint: /ws, type: "*", plugin: chat}
            """
        let error = #expect(throws: RelayConfigError.self) {
            try RouteFile.decode(yaml: yaml, file: "r.yaml", environment: [:], registry: PluginRegistry([CameraPairingPlugin.self, PubSubPlugin.self]))
        }
        let located = (error?.issues ?? []).map { "\($0.line ?? 0):\($0.column ?? 0) \($0.path)" }
        #expect(located == ["6:23 plugins.pairing.config.codeTTL", "6:39 plugins.pairing.config.idleTimeout", "10:7 plugins.chat.config.ekho"], "\(String(describing: error))")
    }
}
