"""A trivial but real frame analysis: flags frames whose brightness (the mean grayscale value of
a JPEG frame decoded with Pillow, or the mean byte of a raw grayscale frame) or size departs
from the running baseline."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

JPEG_START = b"\xff\xd8"


def grayscale(payload: bytes) -> bytes:
    """The 8-bit grayscale pixels of a JPEG frame; any other payload is taken as raw pixels."""
    if payload.startswith(JPEG_START):
        with Image.open(io.BytesIO(payload)) as image:
            return image.convert("L").tobytes()
    return payload


@dataclass
class Finding:
    severity: str
    message: str
    metadata: dict


class RunningStats:
    """Exponentially weighted mean and variance."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.mean: float | None = None
        self.var = 0.0

    def update(self, value: float) -> None:
        if self.mean is None:
            self.mean = value
            return
        delta = value - self.mean
        self.mean += self.alpha * delta
        self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)

    def z(self, value: float, floor: float) -> float:
        if self.mean is None:
            return 0.0
        return abs(value - self.mean) / max(math.sqrt(self.var), floor)


class FrameAnalyzer:
    """Per stream: warm up on ``warmup`` frames, then report a frame whose byte mean or size
    is more than ``threshold`` deviations from the baseline (at most one report per
    ``cooldown`` frames). Anomalous frames do not move the baseline."""

    def __init__(self, warmup: int = 10, threshold: float = 6.0, alpha: float = 0.05, cooldown: int = 15):
        self.warmup = warmup
        self.threshold = threshold
        self.cooldown = cooldown
        self.brightness = RunningStats(alpha)
        self.size = RunningStats(alpha)
        self.frames = 0
        self.quiet_until = 0

    def analyze(self, payload: bytes, seq: int | None = None) -> Finding | None:
        self.frames += 1
        if not payload:
            return None
        pixels = grayscale(payload)
        mean = sum(pixels) / len(pixels)
        size = float(len(payload))
        z_mean = self.brightness.z(mean, floor=1.0)
        z_size = self.size.z(size, floor=max(16.0, size * 0.01))
        warm = self.frames > self.warmup
        anomalous = warm and max(z_mean, z_size) >= self.threshold
        if not anomalous:
            self.brightness.update(mean)
            self.size.update(size)
            return None
        if self.frames < self.quiet_until:
            return None
        self.quiet_until = self.frames + self.cooldown
        z = max(z_mean, z_size)
        severity = "critical" if z >= 4 * self.threshold else "high" if z >= 2 * self.threshold else "medium"
        if z_mean >= z_size:
            kind = "brightness-change"
            text = f"Brightness change: mean {mean:.1f} vs baseline {self.brightness.mean:.1f}"
        else:
            kind = "frame-size"
            text = f"Frame size anomaly: {int(size)} bytes vs baseline {self.size.mean:.0f}"
        return Finding(severity, text, {
            "confidence": round(min(0.99, 1 - self.threshold / (2 * z)), 3),
            "objectType": kind,
            "seq": seq,
            "byteMean": round(mean, 2),
            "baselineMean": round(self.brightness.mean or 0.0, 2),
            "frameBytes": int(size),
        })
