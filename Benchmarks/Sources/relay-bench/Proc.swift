#if canImport(Glibc)
import Glibc
#endif

/// What /proc tells about the server under test (Linux only; nil elsewhere or when the process
/// is gone).
enum Proc {
    /// Resident set size in KiB (`VmRSS` of /proc/<pid>/status).
    static func rssKiB(pid: Int32) -> Int? {
        guard let text = readFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst(6).filter { $0.isNumber }
            return Int(digits)
        }
        return nil
    }

    /// User + system CPU time in seconds (fields 14 and 15 of /proc/<pid>/stat).
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so utime (14) and stime (15) are at 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of a process tree one level deep: `root` (with its reaped children's time,
    /// fields 16 and 17) and every live child (e.g. a PostgreSQL postmaster and its backends).
    static func treeCPUSeconds(root: Int32) -> Double? {
        func fields(_ pid: String) -> [Substring]? {
            guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
            return text[text.index(after: close)...].split(separator: " ")
        }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard let own = fields(String(root)), own.count > 14 else { return nil }
        var ticks = own[11...14].reduce(0.0) { $0 + (Double($1) ?? 0) }
        guard let dir = opendir("/proc") else { return nil }
        defer { closedir(dir) }
        let parent = Substring(String(root))
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let first = name.utf8.first, first >= 0x30, first <= 0x39 else { continue }
            guard let f = fields(name), f.count > 12, f[1] == parent else { continue }
            ticks += (Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)
        }
        return ticks / tick
    }

    /// CPU time (user + system) this process used so far, in seconds.
    static func selfCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// 1-minute load average.
    static func loadAverage() -> Double? {
        guard let text = readFile("/proc/loadavg") else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
    @discardableResult
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}
