"""Prometheus text exposition, parsed for the tests."""

from __future__ import annotations

import re


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def metric_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


class Metrics(dict):
    """``metric_key(name, labels) -> value`` plus the label-subset helpers the tests need."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(maxsplit=3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                elif len(parts) >= 4 and parts[1] == "HELP":
                    self.helps[parts[2]] = parts[3]
                continue
            m = _SAMPLE_RE.match(line)
            if not m:
                continue
            name, label_text, value_text = m.groups()
            labels = dict(_LABEL_RE.findall(label_text or ""))
            try:
                value = float(value_text)
            except ValueError:
                continue
            self.samples.append((name, labels, value))
            self[metric_key(name, labels)] = value

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample called ``name`` whose labels include ``labels``."""
        return sum(v for n, l, v in self.samples
                   if n == name and all(l.get(k) == str(val) for k, val in labels.items()))

    def has_family(self, family: str) -> bool:
        if family in self.types:
            return True
        suffixes = ("", "_total", "_bucket", "_sum", "_count", "_created")
        return any(n == family + s for n, _, _ in self.samples for s in suffixes)
