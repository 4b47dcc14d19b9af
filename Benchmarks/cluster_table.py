#!/usr/bin/env python3
"""Prints the table of a Benchmarks/cluster.sh run from its JSON lines.

    python3 Benchmarks/cluster_table.py Benchmarks/results/cluster-<time>.jsonl [--markdown]
"""

import json
import sys

PLACEMENTS = {"2-nodes": "2 nodes (A → B)", "1-node": "1 node of the cluster", "standalone": "standalone (no cluster)"}


def scenario_name(d: dict) -> str:
    """E.g. "1:1 direct, 10 pairs × 50/s" or "room 1 → 100, highest rate" (from the figures)."""
    senders, receivers = d.get("senders", "?"), d.get("receivers", "?")
    if d["case"].startswith("direct"):
        name = f"1:1 direct, {senders} pairs"
    elif d["case"].startswith("room"):
        name = f"room, 1 → {receivers} subscribers"
    else:
        name = d["case"]
    if d["case"].endswith("-search"):
        return name + f", highest rate (p99 < {d.get('bound_ms', 50):g} ms)"
    rate = d.get("rate_per_sender")
    return name + (f" × {rate:g}/s" if rate is not None else "")



def fmt(value, decimals=2):
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        if decimals == 0:
            return f"{value:,.0f}"
        return f"{value:,.{decimals}f}"
    return str(value)


def main() -> int:
    path = sys.argv[1]
    markdown = "--markdown" in sys.argv
    rows = []
    machine = {}
    after = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        if d.get("case") == "_machine":
            machine = d
        elif d.get("case") == "_machine_after":
            after = d
        else:
            rows.append(d)

    header = ["scenario", "placement", "messages/s", "deliveries/s", "p50 ms", "p99 ms", "max ms",
              "loss %", "errors", "closed", "relays CPU µs/deliv.", "PG CPU µs/deliv.", "generator CPU µs/deliv.", "load before→after"]
    table = []
    for d in rows:
        scenario = scenario_name(d) if "error" not in d else d["case"]
        placement = PLACEMENTS.get(d.get("placement"), d.get("placement"))
        if "error" in d:
            table.append([scenario, placement, "failed: " + d["error"].replace("\n", " ")[:80]] + [""] * (len(header) - 3))
            continue
        if d["case"].endswith("-search"):
            if not d.get("max_rate_per_sender"):
                table.append([scenario, placement, "none passed"] + [""] * (len(header) - 3))
                continue
        load = f"{(d.get('load_before') or '?').split()[0]}→{(d.get('load_after') or '?').split()[0]}"
        table.append([
            scenario, placement,
            fmt(d.get("messages_per_s"), 0), fmt(d.get("deliveries_per_s"), 0),
            fmt(d.get("p50_ms"), 2), fmt(d.get("p99_ms"), 2), fmt(d.get("max_ms"), 1),
            fmt(d.get("loss_pct"), 2), fmt(d.get("errors"), 0), fmt(d.get("closed"), 0),
            fmt(d.get("servers_cpu_us_per_delivery"), 1), fmt(d.get("pg_cpu_us_per_delivery"), 1),
            fmt(d.get("client_cpu_us_per_delivery"), 1), load,
        ])

    relay = machine.get("relay", "?")
    print(f"relay {relay}, PostgreSQL {machine.get('postgres', '?')}, {machine.get('nproc', '?')} cores; "
          f"PostgreSQL CPU with the cluster idle: {machine.get('pg_idle_cpu_pct', '?')} % of a core")
    print(f"before: {machine.get('uptime_before', '?').strip()}")
    print(f"after:  {after.get('uptime_after', '?').strip()}")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join(["---", "---"] + ["---:"] * (len(header) - 2)) + " |")
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in table + [header]) for i in range(len(header))]
        for row in [header] + table:
            print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
