"""The pure parts of the soak benchmark: slopes, the stopped-serving rule, the probe figures and
the per-minute line (no process is started here)."""

from __future__ import annotations

import math

import pytest

from benchmarks.soak import (
    PROBE_DEADLINE_S,
    Minute,
    Probes,
    first_stopped_minute,
    format_minute,
    probe_figures,
    slope_per_minute,
    slopes,
    stopped_reasons,
    verdict,
)


def test_slope_of_a_straight_line_is_its_gradient() -> None:
    assert slope_per_minute([(1, 10.0), (2, 12.0), (3, 14.0), (4, 16.0)]) == pytest.approx(2.0)


def test_slope_is_the_least_squares_fit() -> None:
    # mean x 2, mean y 2; sum (x-mx)(y-my) = (-1)(-1) + 0 + (1)(0) = 1; sum (x-mx)^2 = 2 -> 0.5
    assert slope_per_minute([(1, 1.0), (2, 3.0), (3, 2.0)]) == pytest.approx(0.5)
    # (1,9),(2,5),(3,4),(4,2): mx 2.5, my 5; sxy = (-1.5)(4) + (-0.5)(0) + (0.5)(-1) + (1.5)(-3) = -11;
    # sxx = 2.25 + 0.25 + 0.25 + 2.25 = 5 -> -2.2
    assert slope_per_minute([(1, 9.0), (2, 5.0), (3, 4.0), (4, 2.0)]) == pytest.approx(-2.2)


def test_slope_skips_unknown_points_and_needs_two_minutes() -> None:
    assert slope_per_minute([(1, 3.0), (2, math.nan), (3, 7.0)]) == pytest.approx(2.0)
    assert math.isnan(slope_per_minute([(1, 3.0)]))
    assert math.isnan(slope_per_minute([(1, 3.0), (1, 5.0)]))
    assert math.isnan(slope_per_minute([]))


def test_slopes_per_process_and_latency() -> None:
    minutes = [
        Minute(
            k, cpu_pct={"worker": 10.0 + k}, rss_mib={"worker": 100.0 + 4 * k}, latencies_ms=[100.0 * k] * 60, probes=60
        )
        for k in (1, 2, 3)
    ]
    s = slopes(minutes)
    assert s["worker rss MiB/min"] == pytest.approx(4.0)
    assert s["worker cpu %/min"] == pytest.approx(1.0)
    assert s["latency p50 ms/min"] == pytest.approx(100.0)
    assert s["latency p99 ms/min"] == pytest.approx(100.0)
    assert math.isnan(s["tansu rss MiB/min"])  # never measured


def test_a_minute_with_fast_probes_serves() -> None:
    m = Minute(1, latencies_ms=[120.0] * 60, probes=60)
    assert stopped_reasons(m) == []
    assert first_stopped_minute([m]) is None
    assert verdict([m, Minute(2, latencies_ms=[130.0] * 60, probes=60)]) == "served for 2 minutes"


def test_p99_above_five_seconds_stops_serving() -> None:
    # 60 samples: the nearest-rank p99 is the 60th value, the largest
    slow = Minute(2, latencies_ms=[100.0] * 59 + [5_001.0], probes=60)
    at_limit = Minute(1, latencies_ms=[100.0] * 59 + [5_000.0], probes=60)
    assert stopped_reasons(at_limit) == []  # the rule is "more than 5 s"
    assert stopped_reasons(slow) == ["probe p99 5.0 s > 5 s"]
    assert first_stopped_minute([at_limit, slow]) == 2


def test_a_late_probe_or_a_dead_process_stops_serving() -> None:
    late = Minute(3, latencies_ms=[100.0] * 59, probes=60, late=1)
    died = Minute(4, latencies_ms=[100.0] * 60, probes=60, died=["tansu (exit -9)"])
    assert stopped_reasons(late) == [f"1 probe(s) not shown within {PROBE_DEADLINE_S:g} s"]
    assert stopped_reasons(died) == ["died: tansu (exit -9)"]
    assert first_stopped_minute([Minute(1, latencies_ms=[1.0], probes=1), late, died]) == 3
    assert verdict([late]) == "stopped serving in minute 3 (1 probe(s) not shown within 30 s)"


def test_probe_figures_count_the_minutes_probes_and_the_late_ones() -> None:
    p = Probes()
    p.sent = [100.0, 110.0, 120.0, 150.0, 165.0]
    # probe 1 shown after 0.25 s, 2 after 31 s (late), 3 never (sent 50 s before "now"), 4 never
    # but only 20 s old at 170 (not late yet); 5 is outside [100, 160)
    p.shown = {1: 100.25, 2: 141.0, 5: 165.5}
    latencies, sent, late = probe_figures(p, 100.0, 160.0, now=170.0)
    assert sent == 4
    assert latencies == pytest.approx([250.0, 31_000.0])
    assert late == 2
    # at 200 probe 4 is 50 s old: late as well
    assert probe_figures(p, 100.0, 160.0, now=200.0)[2] == 3


def test_minute_line_format() -> None:
    m = Minute(
        7,
        cpu_pct={"tansu": 12.4, "worker": 30.6, "api": 5.0, "simulator": 1.2},
        rss_mib={"tansu": 20.2, "worker": 150.7, "api": 61.0, "simulator": 42.0},
        latencies_ms=[100.0] * 59 + [300.0],
        probes=60,
        lag=1234,
        ready=True,
        events=5678,
    )
    assert format_minute(m) == (
        "min   7 | tansu  12%   20M  worker  31%  151M  api   5%   61M  simulator   1%   42M"
        " | lat p50   100 p99   300 max   300 ms (60/60 shown, 0 late) | lag 1,234 readyz 200 | events 5,678"
    )


def test_minute_line_marks_unknowns_and_not_serving() -> None:
    m = Minute(2, cpu_pct={"tansu": 1.0}, rss_mib={"tansu": math.nan}, probes=60, late=60, died=["api (exit 1)"])
    line = format_minute(m)
    assert line.startswith("min   2 | tansu   1%    -M  worker   -%    -M  api   -%    -M  simulator   -%    -M")
    assert "lat p50     - p99     - max     - ms (0/60 shown, 60 late)" in line
    assert "| lag - readyz - | events -" in line
    assert line.endswith("| NOT SERVING: 60 probe(s) not shown within 30 s; died: api (exit 1)")


def test_a_warmup_minute_is_judged_only_by_deaths() -> None:
    burst = Minute(1, latencies_ms=[100.0] * 59 + [6_000.0], probes=60, late=1, warmup=True)
    assert stopped_reasons(burst) == []
    assert format_minute(burst).startswith("min   1w| ")
    dead = Minute(1, latencies_ms=[100.0] * 60, probes=60, died=["worker (exit 1)"], warmup=True)
    assert stopped_reasons(dead) == ["died: worker (exit 1)"]
    assert first_stopped_minute([burst, Minute(2, latencies_ms=[100.0] * 59 + [5_500.0], probes=60)]) == 2
