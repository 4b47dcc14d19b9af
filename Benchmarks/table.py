#!/usr/bin/env python3
"""Prints run.sh's results (JSON lines) as a Markdown table: scenario × metric × Relay ×
baseline × Relay/baseline. Usage: table.py RESULTS.jsonl"""
import json
import sys

# case → the metrics shown, in order (key, label). Lower is better unless the label says /s.
METRICS = {
    "pingpong": [("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("p999_ms", "p99.9 ms"),
                 ("max_ms", "max ms"), ("server_cpu_us_per_msg", "server CPU µs/msg"),
                 ("client_cpu_us_per_msg", "load generator CPU µs/msg")],
    "fanout-100": [("deliveries_per_s", "deliveries/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                   ("max_ms", "max ms"), ("loss_pct", "loss %"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                   ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "fanout-100-search": [("deliveries_per_s", "max deliveries/s, p99 < 50 ms"), ("max_rate", "frames/s"),
                          ("p99_ms", "p99 ms at that rate"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                          ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "fanout-1000": [("deliveries_per_s", "deliveries/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                    ("max_ms", "max ms"), ("loss_pct", "loss %"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                   ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "fanout-1000-search": [("deliveries_per_s", "max deliveries/s, p99 < 50 ms"), ("max_rate", "frames/s"),
                           ("p99_ms", "p99 ms at that rate"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                           ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "many-streams": [("deliveries_per_s", "deliveries/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                     ("loss_pct", "loss %"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                   ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "binary-fanout": [("deliveries_per_s", "deliveries/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                      ("loss_pct", "loss %"), ("server_cpu_us_per_delivery", "server CPU µs/delivery"),
                   ("client_cpu_us_per_delivery", "load generator CPU µs/delivery")],
    "slow-consumer": [("p99_without_ms", "others' p99 ms, all reading"), ("p99_with_ms", "others' p99 ms, one stalled"),
                      ("p99_ratio", "p99 with / without"), ("loss_with_pct", "others' loss %, one stalled"),
                      ("rss_max_without_kib", "max RSS KiB, all reading"), ("rss_max_with_kib", "max RSS KiB, one stalled"),
                      ("rss_start_kib", "RSS KiB at start"), ("rss_max_kib", "max RSS KiB"), ("rss_end_kib", "RSS KiB at end"),
                      ("slow_closed_by_server", "stalled one closed by server")],
    "connect-storm": [("conns_per_s", "connections/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                      ("errors", "errors"), ("server_cpu_us_per_conn", "server CPU µs/connection"),
                      ("client_cpu_us_per_conn", "load generator CPU µs/connection")],
}
METRICS["connect-storm-users"] = METRICS["connect-storm"]
IDLE = [("kib_per_conn", "RSS KiB per connection"), ("open", "open after settle"), ("errors", "errors")]


def fmt(value):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if value else "0"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(path):
    rows = {}
    order = []
    machine = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        case = record.get("case", record.get("scenario"))
        if case.startswith("_machine"):
            machine.update(record)
            continue
        if case not in rows:
            rows[case] = {}
            order.append(case)
        rows[case][record.get("target", "")] = record

    print("| scenario | metric | Relay | baseline | Relay / baseline |")
    print("| --- | --- | ---: | ---: | ---: |")
    for case in order:
        metrics = IDLE if case.startswith("idle-") else METRICS.get(case, [])
        relay = rows[case].get("relay", {})
        base = rows[case].get("baseline", {})
        for target, record in (("Relay", relay), ("baseline", base)):
            if "error" in record:
                print(f"| {case} | failed ({target}) | {record['error'][:80]} | | |")
        for key, label in metrics:
            r, b = relay.get(key), base.get(key)
            if r is None and b is None:
                continue
            ratio = "–"
            if isinstance(r, (int, float)) and isinstance(b, (int, float)) and not isinstance(r, bool) and b:
                ratio = f"{r / b:.2f}"
            print(f"| {case} | {label} | {fmt(r)} | {fmt(b)} | {ratio} |")
    if machine:
        print()
        print(f"load before: {machine.get('uptime_before', '?').strip()}")
        print(f"load after:  {machine.get('uptime_after', '?').strip()}")


if __name__ == "__main__":
    main(sys.argv[1])
