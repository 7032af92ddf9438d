"""Summary statistics of latency samples and the saturation rule of the throughput scenario."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# A throughput step is saturated when fewer than this share of the offered messages per second
# is delivered, or when the recipient p99 exceeds SATURATION_P99_MS (issue 7).
SATURATION_DELIVERED_SHARE = 0.95
SATURATION_P99_MS = 1000.0


def percentile(samples: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (`p` in 0..100) of unsorted samples; None when there are none.

    Nearest rank, not interpolation: every reported value is a latency that was observed.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    mean: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "p50": _round(self.p50),
            "p95": _round(self.p95),
            "p99": _round(self.p99),
            "max": _round(self.max),
            "mean": _round(self.mean),
        }


def summarize(samples: Sequence[float]) -> Summary:
    if not samples:
        return Summary(0, None, None, None, None, None)
    ordered = sorted(samples)
    n = len(ordered)

    def rank(p: float) -> float:
        return float(ordered[max(1, math.ceil(p / 100 * n)) - 1])

    return Summary(
        count=n,
        p50=rank(50),
        p95=rank(95),
        p99=rank(99),
        max=float(ordered[-1]),
        mean=sum(ordered) / n,
    )


def is_saturated(offered_per_s: float, delivered_per_s: float, p99_ms: float | None) -> bool:
    """Delivered below 95 % of offered, or p99 over 1 s (no p99: nothing delivered)."""
    if offered_per_s <= 0:
        return False
    if delivered_per_s < SATURATION_DELIVERED_SHARE * offered_per_s:
        return True
    return p99_ms is None or p99_ms > SATURATION_P99_MS


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def rounds_line(values: Sequence[float], digits: int = 0) -> str:
    """Each round's figure in order, then the median and the range: "412 398 455 (median 412,
    398-455)", so a reader sees the machine's noise and not only a middle value."""
    if not values:
        return "none"
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    each = " ".join(f"{v:.{digits}f}" for v in values)
    return f"{each} (median {median:.{digits}f}, {ordered[0]:.{digits}f}-{ordered[-1]:.{digits}f})"
