/// One scenario's figures: printed as one line (`name [target] key=value …`) or, with
/// `--json`, as one JSON object on one line.
struct Report {
    enum Value {
        case int(Int)
        case double(Double, decimals: Int)
        case string(String)
        case bool(Bool)
        case ints([Int])

        var text: String {
            switch self {
            case .int(let v): return String(v)
            case .double(let v, let decimals): return format(v, decimals)
            case .string(let v): return v
            case .bool(let v): return v ? "yes" : "no"
            case .ints(let v): return v.map(String.init).joined(separator: ",")
            }
        }

        var json: String {
            switch self {
            case .int(let v): return String(v)
            case .double(let v, let decimals): return v.isFinite ? format(v, decimals) : "null"
            case .string(let v): return jsonString(v)
            case .bool(let v): return v ? "true" : "false"
            case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
            }
        }
    }

    let scenario: String
    let target: String
    private(set) var fields: [(String, Value, Bool)] = []

    init(scenario: String, target: String) {
        self.scenario = scenario
        self.target = target
    }

    /// Adds a field; `line: false` keeps it out of the one-line form (JSON only).
    mutating func add(_ key: String, _ value: Value, line: Bool = true) {
        self.fields.append((key, value, line))
    }

    mutating func add(_ key: String, _ value: Int) { self.add(key, .int(value)) }
    mutating func add(_ key: String, _ value: Double, decimals: Int = 2) { self.add(key, .double(value, decimals: decimals)) }
    mutating func add(_ key: String, _ value: String) { self.add(key, .string(value)) }

    /// p50/p90/p99/p99.9/max in milliseconds.
    mutating func addLatency(_ m: Measurement, prefix: String = "") {
        self.add(prefix + "p50_ms", m.ms(50), decimals: 3)
        self.add(prefix + "p90_ms", m.ms(90), decimals: 3)
        self.add(prefix + "p99_ms", m.ms(99), decimals: 3)
        self.add(prefix + "p999_ms", m.ms(99.9), decimals: 3)
        self.add(prefix + "max_ms", m.maxMs, decimals: 3)
    }

    var line: String {
        let target = self.target.isEmpty ? "" : " [\(self.target)]"
        return self.scenario + target + " " + self.fields.filter { $0.2 }.map { "\($0.0)=\($0.1.text)" }.joined(separator: " ")
    }

    var json: String {
        var parts = ["\"scenario\":\(jsonString(self.scenario))", "\"target\":\(jsonString(self.target))"]
        parts += self.fields.map { "\(jsonString($0.0)):\($0.1.json)" }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if text.hasSuffix(".0") && decimals == 0 { text.removeLast(2) }
    if text.contains("e") { return String(Int(rounded)) }
    return text
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16) }
            else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
