"""rig/benchmarks/shadow.py's summary (issue #10): `shadow_rtt_ratio` and `mqtt_echo_rtt_ms` are
each the median of 5 runs with the range of the 5 (`_min`, `_max`), every figure declared."""

from __future__ import annotations

from rig.benchmarks import shadow


def _run(echo: float, update: float) -> dict[str, list[float]]:
    # three samples per trip; the run's median is the middle one
    return {
        "mqtt_echo_rtt_ms": [echo - 0.1, echo, echo + 5.0],
        "shadow_update_rtt_ms": [update, update - 0.2, update + 9.0],
        "service_ping_rtt_ms": [1.0, 1.0, 1.0],
        "mqtt_relay_rtt_ms": [2 * echo, 2 * echo, 2 * echo],
    }


def test_ratio_and_echo_are_the_median_of_the_runs_with_their_range() -> None:
    runs = [_run(0.5, 1.0), _run(0.4, 1.2), _run(1.0, 1.5), _run(0.5, 0.9), _run(0.25, 1.0)]
    figures = shadow._figures(runs)
    # per-run ratios: 2.0, 3.0, 1.5, 1.8, 4.0
    assert (figures["shadow_rtt_ratio"], figures["shadow_rtt_ratio_min"]) == (2.0, 1.5)
    assert figures["shadow_rtt_ratio_max"] == 4.0
    # per-run echo medians: 0.5, 0.4, 1.0, 0.5, 0.25
    assert figures["mqtt_echo_rtt_ms"] == 0.5
    assert (figures["mqtt_echo_rtt_ms_min"], figures["mqtt_echo_rtt_ms_max"]) == (0.25, 1.0)
    assert figures["mqtt_relay_ratio"] == 2.0
    assert set(figures) <= set(shadow.METRICS)
    assert shadow.RUNS == 5
