"""The shifted/same calls of result.stats, on samples whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from harness.result.stats import latency_shift, per_second, rate_shift


def test_per_second_takes_one_quantile_per_second() -> None:
    start = np.array([10.1, 10.5, 10.9, 11.2, 11.3])
    latency = np.array([1.0, 2.0, 100.0, 5.0, 7.0])
    assert per_second(start, latency, "mean").tolist() == pytest.approx([103 / 3, 6.0])
    assert per_second(start, latency, "p50").tolist() == pytest.approx([2.0, 6.0])


def test_a_doubled_latency_is_worse_and_a_halved_one_better() -> None:
    rng = np.random.default_rng(7)
    a = rng.lognormal(np.log(20), 0.2, 60)
    slow = latency_shift(a, rng.lognormal(np.log(40), 0.2, 60))
    fast = latency_shift(a, rng.lognormal(np.log(10), 0.2, 60))
    assert slow.call == "worse" and slow.p_value is not None and slow.p_value < 1e-6 and slow.effect > 0.8
    assert fast.call == "better" and fast.effect is not None and fast.effect < -0.8
    assert slow.ratio == pytest.approx(2.0, rel=0.15)


def test_the_same_distribution_is_same_and_a_tiny_shift_is_too_small_to_call() -> None:
    rng = np.random.default_rng(11)
    a = rng.lognormal(np.log(20), 0.2, 200)
    assert latency_shift(a, rng.lognormal(np.log(20), 0.2, 200)).call == "same"
    # significant with 5000 seconds a side, but 3% is below the 10% that matters
    big_a, big_b = rng.normal(100, 5, 5000), rng.normal(103, 5, 5000)
    shift = latency_shift(big_a, big_b)
    assert shift.p_value is not None and shift.p_value < 1e-10 and shift.call == "same"


def test_too_few_seconds_are_not_judged() -> None:
    assert latency_shift(np.array([1.0, 2.0]), np.array([50.0, 60.0, 70.0])).call == "too few"


def test_error_rates_use_fishers_exact_test() -> None:
    assert rate_shift(5, 10_000, 300, 10_000).call == "worse"
    assert rate_shift(300, 10_000, 5, 10_000).call == "better"
    assert rate_shift(5, 10_000, 7, 10_000).call == "same"
    assert rate_shift(0, 0, 3, 10).call == "too few"
