"""The benchmark's statistics and saturation rule (the benchmark itself is not a test)."""

from __future__ import annotations

import pytest

from bench.stats import is_saturated, percentile, rounds_line, summarize


def test_percentile_is_nearest_rank_of_observed_values() -> None:
    samples = [float(x) for x in range(100, 0, -1)]  # unsorted: 100 .. 1
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile(samples, 0) == 1.0
    assert percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_none_and_bad_p_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_a_skewed_sample() -> None:
    samples = [1.0] * 98 + [500.0, 2000.0]
    summary = summarize(samples)
    assert summary.count == 100
    assert summary.p50 == 1.0
    assert summary.p95 == 1.0
    assert summary.p99 == 500.0
    assert summary.max == 2000.0
    assert summary.mean == pytest.approx(25.98)
    assert summarize([]).to_json()["p99"] is None


@pytest.mark.parametrize(
    ("offered", "delivered", "p99", "saturated"),
    [
        (200, 200, 10.0, False),
        (200, 191, 10.0, False),  # 95.5 % delivered
        (200, 189, 10.0, True),  # under 95 %
        (200, 200, 1000.0, False),
        (200, 200, 1000.1, True),  # p99 over 1 s
        (200, 0, None, True),  # nothing delivered
    ],
)
def test_saturation_rule(
    offered: float, delivered: float, p99: float | None, saturated: bool
) -> None:
    assert is_saturated(offered, delivered, p99) is saturated


def test_rounds_line_keeps_every_round_in_order_then_median_and_range() -> None:
    assert rounds_line([412.4, 398.0, 455.2]) == "412 398 455 (median 412, 398-455)"
    assert rounds_line([1.0, 4.0, 2.0, 3.0], digits=1) == "1.0 4.0 2.0 3.0 (median 2.5, 1.0-4.0)"
    assert rounds_line([]) == "none"
