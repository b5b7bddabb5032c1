"""The soak's verdict (bench/soak.py): flat runs pass, leaks and server errors fail.

The soak itself runs for minutes (``python -m bench.soak``); here only its judgement is checked,
on made-up samples, so a leak cannot slip through a verdict that never fails.
"""

from __future__ import annotations

from dataclasses import replace

from bench.soak import FD_GROWTH, Sample, judge


def _run(n: int = 30, **changes: object) -> list[Sample]:
    flat = Sample(t_s=0, wr_rss_mib=60.0, wr_fds=80, tk_rss_mib=70.0, tk_fds=60,
                  requests=2000, server_errors=0, bad=0)
    return [replace(flat, t_s=10.0 * (i + 1), **changes) for i in range(n)]


def test_a_flat_run_passes_even_with_warm_up_growth() -> None:
    samples = _run()
    for i in range(4):  # warm-up: pools and caches fill
        samples[i] = replace(samples[i], wr_rss_mib=30.0 + i, tk_fds=20)
    assert judge(samples) == []


def test_memory_creeping_after_warm_up_fails() -> None:
    samples = [replace(s, tk_rss_mib=70.0 + 2 * i) for i, s in enumerate(_run())]
    assert [p for p in judge(samples) if p.startswith("tk memory grew")]


def test_descriptors_piling_up_fail() -> None:
    samples = [replace(s, wr_fds=80 + i) for i, s in enumerate(_run())]
    assert FD_GROWTH < 29
    assert [p for p in judge(samples) if p.startswith("wr descriptors grew")]


def test_any_server_error_fails() -> None:
    samples = _run()
    samples[-1] = replace(samples[-1], server_errors=1, bad=1)
    assert judge(samples) == ["1 server errors in the interval ending at 300s"]


def test_a_run_too_short_to_judge_fails() -> None:
    assert judge(_run(n=1)) == ["too few samples after warm-up to judge growth"]
