import Foundation
import Logging
import PostgresNIO
import RelayKernel
import Testing

@testable import RelayPostgres

/// The PostgreSQL stores against a real server: each test gets a database of its own, dropped afterwards.
@Suite("PostgresStore")
struct PostgresStoreTests {
    static let logger = Logger(label: "relay.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server's admin URL; the test fails when it is not set.
    static func adminURL() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["RELAY_TEST_DATABASE_URL"],
            """
            RELAY_TEST_DATABASE_URL is not set: these tests need a PostgreSQL server. scripts/test.sh starts one and \
            sets it; to run them alone, start one and set e.g. RELAY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres
            """
        )
    }

    /// Runs `body` with the URL of a new, empty database, which is dropped afterwards.
    static func withFreshDatabase(_ body: (String) async throws -> Void) async throws {
        let adminURL = try Self.adminURL()
        let name = "relay_store_test_\(UInt64.random(in: 0...UInt64.max))"
        let admin = try RelayPostgres.PostgresDatabase(url: adminURL, logger: Self.logger)
        let outcome: Result<Void, any Error>
        do {
            try await admin.query("CREATE DATABASE \(unescaped: name)")
            var components = try #require(URLComponents(string: adminURL))
            components.path = "/" + name
            try await body(try #require(components.string))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
        await admin.close()
        try outcome.get()
    }

    /// Runs `body` with the database at `url` opened (and migrated), closing it afterwards.
    static func withDatabase(_ url: String, _ body: (RelayPostgres.PostgresDatabase) async throws -> Void) async throws {
        let database = try await RelayPostgres.PostgresDatabase.open(url: url, logger: Self.logger)
        do {
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    /// Runs `body` with both stores on a fresh database.
    static func withStores(_ body: (PostgresKeyValueStore, PostgresDurableStore, RelayPostgres.PostgresDatabase) async throws -> Void) async throws {
        try await Self.withFreshDatabase { url in
            try await Self.withDatabase(url) { database in
                try await body(PostgresKeyValueStore(database: database), PostgresDurableStore(database: database, ownsDatabase: false), database)
            }
        }
    }

    static func appliedVersions(_ database: RelayPostgres.PostgresDatabase) async throws -> [Int32] {
        try await database.query("SELECT version FROM relay_schema_migrations ORDER BY version").map { try $0.decode(Int32.self) }
    }

    // MARK: - Database and schema

    @Test func migrationsAreIdempotentAndRecorded() async throws {
        try await Self.withFreshDatabase { url in
            try await Self.withDatabase(url) { _ in }
            try await Self.withDatabase(url) { database in
                #expect(try await Self.appliedVersions(database) == Array(1...Int32(PostgresSchema.migrations.count)))
                let tables = try await database.query(
                    "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'relay\\_%' ORDER BY tablename"
                ).map { try $0.decode(String.self) }
                #expect(Set(["relay_kv", "relay_records", "relay_schema_migrations"]).isSubset(of: tables))
            }
        }
    }

    @Test func concurrentOpensOfAFreshDatabaseAllSucceed() async throws {
        try await Self.withFreshDatabase { url in
            let databases = try await withThrowingTaskGroup(of: RelayPostgres.PostgresDatabase.self) { group in
                for _ in 0..<4 { group.addTask { try await RelayPostgres.PostgresDatabase.open(url: url, logger: Self.logger) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(databases.count == 4)
            #expect(try await Self.appliedVersions(databases[0]) == Array(1...Int32(PostgresSchema.migrations.count)))
            for database in databases { await database.close() }
        }
    }

    @Test func urlsAreParsed() async throws {
        let database = try RelayPostgres.PostgresDatabase(
            url: "postgresql://relay%40x:p%3Ass@db.example:6543/relay_db?sslmode=require",
            logger: Self.logger
        )
        let configuration = database.connectionConfiguration
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "relay@x")
        #expect(configuration.password == "p:ss")
        #expect(configuration.database == "relay_db")
        #expect(configuration.tls.isEnforced)
        #expect(database.location == "relay@x@db.example:6543/relay_db")
        await database.close()

        let defaults = try RelayPostgres.PostgresDatabase(url: "postgres://relay@[::1]", logger: Self.logger)
        #expect(defaults.connectionConfiguration.host == "::1")
        #expect(defaults.connectionConfiguration.port == 5432)
        #expect(defaults.connectionConfiguration.password == nil)
        #expect(defaults.connectionConfiguration.database == nil)
        #expect(defaults.connectionConfiguration.tls.isAllowed == false)
        await defaults.close()
    }

    @Test func malformedURLsAreRefusedWithoutShowingThePassword() async throws {
        let urls = [
            "",
            "not a url",
            "mysql://relay:s3cret@db/relay",
            "postgres://:s3cret@db/relay",
            "postgres://relay:s3cret@/relay",
            "postgres://relay:s3cret@db/relay/extra",
            "postgres://relay:s3cret@db/relay?sslmode=prefer",
            "postgres://relay:s3cret@db/relay?connect_timeout=5",
        ]
        for url in urls {
            let error = await #expect(throws: PostgresDatabaseError.self, "\(url)") {
                _ = try await RelayPostgres.PostgresDatabase.open(url: url, logger: Self.logger)
            }
            #expect(error?.message.contains("s3cret") == false, "\(url): \(error?.message ?? "")")
        }
    }

    @Test func reachability() async throws {
        try await Self.withStores { _, records, database in
            #expect(await records.isReachable())
            #expect(await database.isReachable())
        }

        // Closing the durable store closes the database only when it owns it.
        try await Self.withFreshDatabase { url in
            let database = try await RelayPostgres.PostgresDatabase.open(url: url, logger: Self.logger)
            try await PostgresDurableStore(database: database, ownsDatabase: false).close()
            #expect(await database.isReachable())
            try await PostgresDurableStore(database: database, ownsDatabase: true).close()
            #expect(await database.isReachable() == false)
        }

        // Nothing listens on port 1: no hang, and `open` gives up with the address and without the password.
        let nowhere = "postgres://relay:s3cret@127.0.0.1:1/relay"
        let unreachable = try RelayPostgres.PostgresDatabase(url: nowhere, logger: Self.logger)
        let start = ContinuousClock.now
        #expect(await unreachable.isReachable() == false)
        #expect(start.duration(to: .now) < .seconds(5))
        await unreachable.close()
        let error = await #expect(throws: PostgresDatabaseError.self) {
            _ = try await RelayPostgres.PostgresDatabase.open(url: nowhere, logger: Self.logger, startupTimeout: .seconds(1))
        }
        #expect(error?.message.contains("127.0.0.1:1") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cret") == false)
    }

    @Test func refusalsThatWaitingCannotFixFailAtOnce() async throws {
        var components = try #require(URLComponents(string: try Self.adminURL()))
        components.path = "/relay_store_test_missing"
        let start = ContinuousClock.now
        let error = await #expect(throws: PostgresDatabaseError.self) {
            _ = try await RelayPostgres.PostgresDatabase.open(url: try #require(components.string), logger: Self.logger)
        }
        #expect(error?.message.contains("does not exist") == true, "\(error?.message ?? "")")
        #expect(start.duration(to: .now) < .seconds(5))
    }

    // MARK: - Key-value store

    @Test func keyValueOperations() async throws {
        try await Self.withStores { values, _, _ in
            #expect(try await values.get("missing") == nil)
            let first = try await values.set("k", ["a": 1], ttl: nil)
            #expect(try await values.get("k") == StoredValue(value: ["a": 1], version: first))
            let second = try await values.set("k", 2, ttl: nil)
            let other = try await values.set("other", 3, ttl: nil)
            #expect(first < second)
            #expect(second < other)
            #expect(try await values.get("k") == StoredValue(value: 2, version: second))

            #expect(try await values.insert("k", 9, ttl: nil) == nil, "taken")
            #expect(try await values.get("k")?.value == 2)
            let inserted = try #require(try await values.insert("new", "n", ttl: nil))
            #expect(inserted > other)

            #expect(try await values.compareAndSet("k", expected: first, 5, ttl: nil) == nil, "stale version")
            let third = try #require(try await values.compareAndSet("k", expected: second, 5, ttl: nil))
            #expect(third > second)
            #expect(try await values.get("k") == StoredValue(value: 5, version: third))
            #expect(try await values.compareAndSet("missing", expected: first, 1, ttl: nil) == nil)
            #expect(try await values.compareAndSet("k", expected: .max, 1, ttl: nil) == nil)

            #expect(try await values.delete("k", expected: second) == false)
            #expect(try await values.delete("k", expected: third))
            #expect(try await values.get("k") == nil)
            #expect(try await values.delete("other"))
            #expect(try await values.delete("other") == false)

            let value: JSONValue = [
                "text": "héllo \"quoted\" \\ \n \u{0} 🎥", "int": .int(Int.max), "double": 1.5, "bool": true, "null": .null,
                "array": [1, [2], ["empty": []]],
            ]
            let version = try await values.set("every type", value, ttl: nil)
            #expect(try await values.get("every type") == StoredValue(value: value, version: version))
        }
    }

    /// Long enough that the writes and reads before the wait finish inside it even under load.
    static let shortTTL = Duration.seconds(2)

    @Test func keysExpire() async throws {
        try await Self.withStores { values, _, _ in
            try await values.set("forever", "v", ttl: nil)
            try await values.set("short", "v", ttl: Self.shortTTL)
            try await values.set("slot", 1, ttl: Self.shortTTL)
            try await values.set("made permanent", 1, ttl: Self.shortTTL)
            try await values.set("made permanent", 2, ttl: nil)
            let swapped = try await values.set("swapped", 1, ttl: Self.shortTTL)
            let written = ContinuousClock.now  // after the last write with a TTL
            #expect(try await values.compareAndSet("swapped", expected: swapped, 2, ttl: nil) != nil)
            try await values.set("already gone", "v", ttl: .zero)
            #expect(try await values.get("already gone") == nil)
            let short = try #require(try await values.get("short"))
            #expect(try await values.insert("slot", 2, ttl: nil) == nil, "not expired yet")

            // Well past the TTL however slow the statements above were on a loaded machine.
            try await Task.sleep(until: written + Self.shortTTL + .milliseconds(300))
            #expect(try await values.get("short") == nil)
            #expect(try await values.keys(withPrefix: "") == ["forever", "made permanent", "swapped"])
            #expect(try await values.get("made permanent")?.value == 2)
            #expect(try await values.get("swapped")?.value == 2)
            #expect(try await values.compareAndSet("short", expected: short.version, "x", ttl: nil) == nil)
            #expect(try await values.delete("short", expected: short.version) == false)
            #expect(try await values.delete("short") == false, "an expired key does not exist")
            let inserted = try #require(try await values.insert("slot", 2, ttl: nil), "an expired key can be inserted")
            #expect(try await values.get("slot") == StoredValue(value: 2, version: inserted))
        }
    }

    @Test func insertIfAbsentHasExactlyOneWinnerAcrossNodes() async throws {
        try await Self.withFreshDatabase { url in
            try await Self.withDatabase(url) { first in
                try await Self.withDatabase(url) { second in
                    let nodes = [PostgresKeyValueStore(database: first), PostgresKeyValueStore(database: second)]
                    for round in 0..<6 {
                        let key = "pair:\(round)"
                        if round % 2 == 1 { try await nodes[0].set(key, "old", ttl: .seconds(-1)) }
                        let winners = try await withThrowingTaskGroup(of: (Int, UInt64?).self) { group in
                            for task in 0..<40 {
                                group.addTask { (task, try await nodes[task % 2].insert(key, .int(task), ttl: .seconds(60))) }
                            }
                            return try await group.reduce(into: [(Int, UInt64)]()) { winners, result in
                                if let version = result.1 { winners.append((result.0, version)) }
                            }
                        }
                        #expect(winners.count == 1, "round \(round)")
                        let winner = try #require(winners.first)
                        #expect(try await nodes[1].get(key) == StoredValue(value: .int(winner.0), version: winner.1))
                    }
                }
            }
        }
    }

    @Test func compareAndSetLosesNoUpdateUnderContention() async throws {
        try await Self.withFreshDatabase { url in
            try await Self.withDatabase(url) { first in
                try await Self.withDatabase(url) { second in
                    let nodes = [PostgresKeyValueStore(database: first), PostgresKeyValueStore(database: second)]
                    try await nodes[0].set("counter", 0, ttl: nil)
                    let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                        for task in 0..<10 {
                            group.addTask {
                                let store = nodes[task % 2]
                                var conflicts = 0
                                for _ in 0..<5 {
                                    while true {
                                        let current = try #require(try await store.get("counter"))
                                        let next = JSONValue.int((current.value.intValue ?? 0) + 1)
                                        if try await store.compareAndSet("counter", expected: current.version, next, ttl: nil) != nil { break }
                                        conflicts += 1
                                    }
                                }
                                return conflicts
                            }
                        }
                        return try await group.reduce(0, +)
                    }
                    #expect(try await nodes[1].get("counter")?.value == 50)
                    #expect(conflicts > 0, "the tasks did contend")
                }
            }
        }
    }

    @Test func prefixesMatchLiterally() async throws {
        try await Self.withStores { values, _, _ in
            let keys = ["a%b:1", "a%bc", "axb:1", "a_b", "ab", "a\\b", "B", "a%b:expired"]
            for key in keys { try await values.set(key, 1, ttl: key.hasSuffix("expired") ? Duration.zero : nil) }
            #expect(try await values.keys(withPrefix: "a%b") == ["a%b:1", "a%bc"])
            #expect(try await values.keys(withPrefix: "a_") == ["a_b"])
            #expect(try await values.keys(withPrefix: "a\\") == ["a\\b"])
            #expect(try await values.keys(withPrefix: "zzz") == [])
            #expect(try await values.keys(withPrefix: "") == ["B", "a%b:1", "a%bc", "a\\b", "a_b", "ab", "axb:1"])
        }
    }

    @Test func expiredRowsAreSweptAfterEnoughWrites() async throws {
        try await Self.withStores { values, _, database in
            try await values.set("long expired", 1, ttl: .seconds(-120))
            try await values.set("just expired", 1, ttl: .seconds(-1))
            try await values.set("live", 1, ttl: .seconds(60))
            let storedKeys = { () async throws -> [String] in
                try await database.query("SELECT key FROM relay_kv ORDER BY key").map { try $0.decode(String.self) }
            }
            #expect(try await storedKeys() == ["just expired", "live", "long expired"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for index in stride(from: task, to: PostgresKeyValueStore.sweepInterval - 3, by: 8) {
                            try await values.set("filler", .int(index), ttl: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await storedKeys() == ["filler", "just expired", "live"])
        }
    }

    @Test func anotherNodeSeesTheSameData() async throws {
        try await Self.withFreshDatabase { url in
            try await Self.withDatabase(url) { first in
                try await Self.withDatabase(url) { second in
                    let (valuesA, valuesB) = (PostgresKeyValueStore(database: first), PostgresKeyValueStore(database: second))
                    let version = try await valuesA.set("camera:ABC123", ["desktop": "c1"], ttl: .seconds(60))
                    #expect(try await valuesB.get("camera:ABC123") == StoredValue(value: ["desktop": "c1"], version: version))
                    #expect(try await valuesB.insert("camera:ABC123", ["desktop": "c2"], ttl: .seconds(60)) == nil)
                    let next = try #require(try await valuesB.compareAndSet("camera:ABC123", expected: version, ["phone": "p1"], ttl: nil))
                    #expect(try await valuesA.get("camera:ABC123") == StoredValue(value: ["phone": "p1"], version: next))
                    #expect(try await valuesA.keys(withPrefix: "camera:") == ["camera:ABC123"])
                    #expect(try await valuesA.delete("camera:ABC123", expected: next))
                    #expect(try await valuesB.get("camera:ABC123") == nil)

                    let recordsA = PostgresDurableStore(database: first, ownsDatabase: false)
                    let recordsB = PostgresDurableStore(database: second, ownsDatabase: false)
                    let record = try await recordsA.append("alerts", ["message": "from A"])
                    #expect(try await recordsB.get("alerts", id: record.id) == record)
                    #expect(try await recordsB.list("alerts", DurableQuery()).records == [record])
                }
            }
        }
    }

    // MARK: - Durable store

    @Test func recordsPutGetReplaceDelete() async throws {
        try await Self.withStores { _, records, _ in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let first = try await records.put("streams", id: "s1", ["name": "cam", "n": 1])
            #expect(abs(first.createdAt - now) < 60_000, "database time in milliseconds")
            #expect(first.updatedAt == first.createdAt)
            #expect(try await records.get("streams", id: "s1") == first)
            let replaced = try await records.put("streams", id: "s1", ["name": "cam", "n": 2])
            #expect(replaced.createdAt == first.createdAt)
            #expect(replaced.updatedAt >= first.updatedAt)
            #expect(try await records.get("streams", id: "s1") == replaced)
            #expect(try await records.get("other", id: "s1") == nil, "collections are separate")
            #expect(try await records.delete("streams", id: "s1"))
            #expect(try await records.delete("streams", id: "s1") == false)
            #expect(try await records.get("streams", id: "s1") == nil)

            let appended = try await records.append("streams", ["name": "second"])
            let again = try await records.append("streams", ["name": "second"])
            #expect(appended.id != again.id)
            #expect(try await records.get("streams", id: appended.id) == appended)
        }
    }

    @Test func listPagesThroughEveryRecordNewestFirst() async throws {
        try await Self.withStores { _, records, _ in
            for index in 0..<23 {
                var value: [String: JSONValue] = [
                    "stream": .string(index % 2 == 0 ? "a" : "b"), "index": .int(index), "meta": ["k": .int(index % 3)],
                ]
                if index % 5 == 0 { value["optional"] = .null }
                try await records.put("alerts", id: "r\(index)", .object(value))
            }
            // A replaced record keeps its place.
            try await records.put("alerts", id: "r3", ["stream": "b", "index": 3, "meta": ["k": 0], "replaced": true])

            func all(_ filters: [String: JSONValue], limit: Int) async throws -> [Int] {
                var indexes: [Int] = []
                var cursor: String?
                repeat {
                    let page = try await records.list("alerts", DurableQuery(filters: filters, before: cursor, limit: limit))
                    #expect(page.records.count <= limit)
                    indexes += page.records.compactMap { $0.value["index"]?.intValue }
                    cursor = page.nextCursor
                } while cursor != nil
                return indexes
            }
            #expect(try await all([:], limit: 5) == Array((0..<23).reversed()))
            #expect(try await all([:], limit: 23) == Array((0..<23).reversed()))
            #expect(try await all(["stream": "a"], limit: 4) == (0..<23).reversed().filter { $0 % 2 == 0 })
            #expect(try await all(["stream": "b", "meta": ["k": 0]], limit: 2) == (0..<23).reversed().filter { $0 % 6 == 3 })
            #expect(try await all(["optional": nil], limit: 3) == [20, 15, 10, 5, 0], "null matches a present null only")
            #expect(try await all(["replaced": true], limit: 3) == [3])
            #expect(try await all(["stream": "c"], limit: 3) == [])
            let exact = try await records.list("alerts", DurableQuery(filters: ["stream": "a"], limit: 12))
            #expect(exact.records.count == 12)
            #expect(exact.nextCursor == nil, "a page that ends the listing has no cursor")
            #expect(try await records.list("other", DurableQuery()) == DurablePage(records: [], nextCursor: nil))
        }
    }

    @Test func badCursorsAndFieldsAreRefused() async throws {
        try await Self.withStores { _, records, _ in
            await #expect(throws: DurableStoreError.self) {
                _ = try await records.list("alerts", DurableQuery(before: "garbage"))
            }
            await #expect(throws: DurableStoreError.self) {
                _ = try await records.list("alerts", DurableQuery(filters: ["a') OR 1=1 --": 1]))
            }
        }
    }
}
