#!/usr/bin/env python3
"""Marginal instructions per delivery from two callgrind runs that differ only in how many
frames were fanned out, and the functions that account for the difference.

Usage: callgrind_diff.py TARGET SHORT.callgrind LONG.callgrind SHORT.json LONG.json RATE SUBSCRIBERS
"""
import json
import re
import subprocess
import sys

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
        diffs = sorted(((long.get(name, 0) - short.get(name, 0), name) for name in long), reverse=True)[:count]
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

    top(short_self, long_self, 30, "Self cost, top 30")
    top(short_incl, long_incl, 40, "Inclusive cost, top 40")
    print()


if __name__ == "__main__":
    main()
