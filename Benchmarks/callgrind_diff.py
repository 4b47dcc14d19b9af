#!/usr/bin/env python3
"""Marginal instructions per delivery from two callgrind runs that differ only in how many
frames were fanned out, and the functions that account for the difference.

Usage: callgrind_diff.py TARGET LOW.callgrind HIGH.callgrind LOW.json HIGH.json
"""
import json
import re
import subprocess
import sys

# Where the marginal instructions go, by self cost: the first pattern matching a function's
# (demangled or raw) name wins.
CATEGORIES = [
    ("Swift concurrency runtime (task switches and allocation, continuations, executors, dispatch queues, TLS)",
     r"swift_task|swift::AsyncTask|StackAllocator|TaskAllocator|swift_job|runJob|swift_continuation|Continuation|_dispatch|"
     r"dispatch_|__tls_get_addr|SwiftTLSContext|withStatusRecordLock|swift::TaskGroup|task_group|ExecutorRef|"
     r"getPreferredTaskExecutor|withTaskCancellationHandler|CancellationHandler|TaskStatus|swift_taskGroup|Job::|DefaultActor"),
    ("NIOAsyncWriter / NIOAsyncChannel / NIOAsyncSequenceProducer (the async bridge)",
     r"NIOAsyncWriter|NIOAsyncChannel|NIOAsyncSequenceProducer|NIOThrowingAsyncSequenceProducer|AsyncChannel"),
    ("Hummingbird / WSCore WebSocket layer", r"WebSocketHandler|WebSocketOutboundWriter|WebSocketInboundStream|WSCore|Hummingbird"),
    ("retain/release", r"^swift_retain|^swift_release|swift_bridgeObjectRe|swift_unknownObjectRe|swift_nonatomic|doDecrementSlow"),
    ("exclusivity checks", r"swift_beginAccess|swift_endAccess|AccessSet"),
    ("generic metadata and dynamic casts",
     r"Metadata|getCache|tryCast|swift_dynamicCast|swift_conformsToProtocol|ProtocolConformance|swift_getWitnessTable|"
     r"swift_getAssociated|GenericCacheEntry|swift_checkMetadataState|instantiateConcreteType|EnumCaseMultiPayload|"
     r"EnumTagMultiPayload|MultiPayloadEnumTag"),
    ("malloc/free", r"malloc|_int_free|^free|cfree|tcache|swift_allocObject|swift_deallocObject|swift_slowAlloc|"
                    r"swift_slowDealloc|swift_deallocClassInstance"),
    ("locks", r"pthread_mutex|Mutex|os_unfair|NIOLock|lll_lock|futex"),
    ("metrics (swift-metrics / Prometheus)", r"Histogram|Counter|Metrics|Prometheus|Gauge|Timer|recordNanoseconds|Atomic"),
    ("logging", r"Logger|Logging|LogHandler"),
    ("relay kernel and plugin code",
     r"RelayKernel|ClientSession|RelayHub|ConnectionControl|RelayConnection|PluginContext|Room|ShardedMap|MLAlerts|MLVideo|"
     r"MLLive|JSONParser|JSONValue|InboundDecoder|OutboundMessage|RelayMessage|QueuedFrame|MessageAssembler|TokenBucket|"
     r"RouteTable|ClientInfo|ClientID|WireForms|MLStream|MLRooms"),
    ("Swift stdlib (strings, collections, hashing, Duration)",
     r"String|Array|Dictionary|Set|Hasher|hash|Collection|Sequence|Substring|Character|Unicode|_StringGuts|memcmp|strlen|Duration|isUniquelyReferenced"),
    ("NIO channel pipeline, socket write and read",
     r"NIO|Channel|ByteBuffer|PendingWrites|PendingStreamWrites|Selector|EventLoop|WebSocketFrame|CircularBuffer|IOData|"
     r"ByteToMessage|SocketChannel|writev|sendmsg"),
    ("memcpy/memmove/memset", r"memcpy|memmove|memset"),
]

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)\s*$")


def annotate(path, inclusive):
    text = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
        capture_output=True, text=True, check=True,
    ).stdout
    total = None
    functions = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        count = int(match.group(1).replace(",", ""))
        name = match.group(2)
        if name.startswith("PROGRAM TOTALS"):
            total = count
            continue
        name = re.sub(r"\s+\[.*\]$", "", name)  # drop the object file
        name = re.sub(r"^[^:]*:", "", name, count=1)  # drop the source file ("???:")
        functions[name] = functions.get(name, 0) + count
    return total, functions


def demangle(names):
    try:
        out = subprocess.run(["swift-demangle", "--simplified", "--compact"], input="\n".join(names),
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) == len(names):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return names


def received(path):
    record = json.load(open(path))
    if "received" in record:
        return record["received"]
    if "recv" in record:  # pingpong: pongs received
        return record["recv"]
    if "conns" in record:  # connect-storm: connections opened
        return record["conns"]
    return record["deliveries_per_s"] * record.get("duration", 0)


def main():
    target, short_cg, long_cg, short_json, long_json = sys.argv[1:6]
    short_total, short_self = annotate(short_cg, False)
    long_total, long_self = annotate(long_cg, False)
    _, short_incl = annotate(short_cg, True)
    _, long_incl = annotate(long_cg, True)
    deliveries = received(long_json) - received(short_json)
    delta = long_total - short_total
    print(f"## {target}: {delta / deliveries:,.0f} instructions per delivery "
          f"({delta:,} instructions for {deliveries:,} more deliveries; totals {short_total:,} and {long_total:,})")

    def top(short, long, count, title):
        # Recursive functions (cycles) count their callees more than once: leave out any over 100 %.
        diffs = sorted(((long.get(name, 0) - short.get(name, 0), name) for name in long
                        if long.get(name, 0) - short.get(name, 0) <= delta), reverse=True)[:count]
        names = demangle([name for _, name in diffs])
        print(f"\n{title} (share of the marginal instructions; instructions per delivery)\n")
        print("| share | instr/delivery | function |")
        print("| ---: | ---: | --- |")
        for (value, _), name in zip(diffs, names):
            if value <= 0:
                continue
            short_name = name if len(name) < 160 else name[:157] + "…"
            short_name = short_name.replace("|", "\\|")
            print(f"| {100 * value / delta:.1f}% | {value / deliveries:,.0f} | `{short_name}` |")

    names = sorted(set(long_self) | set(short_self))
    demangled = dict(zip(names, demangle(names)))
    totals = {title: 0 for title, _ in CATEGORIES}
    other = 0
    for name in names:
        value = long_self.get(name, 0) - short_self.get(name, 0)
        for title, pattern in CATEGORIES:
            if re.search(pattern, demangled[name]) or re.search(pattern, name):
                totals[title] += value
                break
        else:
            other += value
    print("\nBy category (self cost)\n")
    print("| category | share | instr/delivery |")
    print("| --- | ---: | ---: |")
    for title, _ in CATEGORIES:
        print(f"| {title} | {100 * totals[title] / delta:.1f}% | {totals[title] / deliveries:,.0f} |")
    print(f"| other | {100 * other / delta:.1f}% | {other / deliveries:,.0f} |")

    top(short_self, long_self, 30, "Self cost, top 30")
    top(short_incl, long_incl, 40, "Inclusive cost, top 40")
    print()


if __name__ == "__main__":
    main()
