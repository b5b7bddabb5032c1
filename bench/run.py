"""Every benchmark in one go, then the charts: ``make bench`` / ``make bench-quick``.

    python -m bench.run [--quick] [--only NAME,...]

Runs ``bench.waitingroom``, ``bench.holds``, ``bench.locks`` and ``bench.scenarios``, each as
its own process (each starts and stops its own servers), one after the other so they do not
compete for the CPU. A module that is not there yet is skipped with a message. Results land in
``bench/results/*.json``, charts in ``docs/img/*.png``. Exits non-zero when any benchmark
reported a correctness failure or crashed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fairgate.lifecycle import exit_on_signals

from . import procs

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
IMG = ROOT / "docs" / "img"
MODULES = ("waitingroom", "holds", "locks", "scenarios")
# Generous: each benchmark stops by itself well before this.
TIMEOUT_S = 900
# How long a module ended with SIGTERM (it then stops its servers: exit_on_signals)
# may take, PostgreSQL's shutdown included, before SIGKILL.
STOP_GRACE_S = 60


def results_path(name: str, quick: bool) -> Path:
    return RESULTS / (f"{name}-quick.json" if quick else f"{name}.json")


def run_module(name: str, quick: bool) -> dict[str, Any]:
    module = f"bench.{name}"
    if importlib.util.find_spec(module) is None:
        print(f"== {module}: not there yet, skipped", flush=True)
        return {"status": "skipped"}
    cmd = [sys.executable, "-m", module, *(["--quick"] if quick else []),
           "--json", str(results_path(name, quick))]
    print(f"== {' '.join(['python', *cmd[1:]])}", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        returncode = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        procs.end_process(proc, signal.SIGTERM, grace_s=STOP_GRACE_S)
        print(f"== {module}: did not finish within {TIMEOUT_S} s", flush=True)
        return {"status": "timeout", "elapsed_s": TIMEOUT_S}
    except BaseException:  # Ctrl-C or SIGTERM of this run: the module stops its servers first
        procs.end_process(proc, signal.SIGTERM, grace_s=STOP_GRACE_S)
        raise
    elapsed = time.perf_counter() - started
    status = "ok" if returncode == 0 else f"failed (exit {returncode})"
    print(f"== {module}: {status} in {elapsed:.0f} s", flush=True)
    return {"status": status, "elapsed_s": elapsed, "returncode": returncode}



def load(name: str, quick: bool) -> dict[str, Any] | None:
    path = results_path(name, quick)
    if not path.exists():
        return None
    return json.loads(path.read_text())


# -- charts --
def charts(quick: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    IMG.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    drawn: list[Path] = []
    wr = load("waitingroom", quick)
    sc = load("scenarios", quick)
    if wr is not None:
        drawn.append(poll_latency_chart(wr, IMG / f"poll-latency{suffix}.png"))
        drawn.append(ratio_chart(wr, IMG / f"waitingroom-ratios{suffix}.png"))
    if sc is not None:
        path = admissions_chart(sc, IMG / f"admissions{suffix}.png")
        if path is not None:
            drawn.append(path)
        drawn.append(throughput_chart(sc, IMG / f"scenario-throughput{suffix}.png"))
    return drawn


def poll_latency_chart(wr: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    lat = wr["results"]["latency"]
    series = [s for s in lat["series"] if s["requests"] >= 10]
    t = [s["t"] for s in series]
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(t, [s["p50_ms"] for s in series], label="p50", color="tab:blue")
    ax.plot(t, [s["p99_ms"] for s in series], label="p99", color="tab:red")
    ax.axhline(50, color="tab:red", linestyle=":", linewidth=1, label="p99 target (50 ms)")
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("poll latency, ms (log scale)")
    rates = wr["plan"]["rates"]
    half = wr["plan"]["phase_s"]
    ax.axvline(half, color="grey", linestyle="--", linewidth=1)
    ax.text(half * 0.5, 0.97, f"admitting {rates[0]}/min", transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=9, color="grey")
    ax.text(half * 1.5, 0.97, f"admitting {rates[1]}/min", transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=9, color="grey")
    ax2 = ax.twinx()
    ax2.bar(t, [s["requests"] for s in series], width=0.9, color="tab:grey", alpha=0.15,
            label="polls per second")
    ax2.set_ylabel("polls per second")
    ax2.set_ylim(0, max([s["requests"] for s in series] + [1]) * 1.6)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    lines, labels = ax.get_legend_handles_labels()
    bars, blabels = ax2.get_legend_handles_labels()
    ax.legend(lines + bars, labels + blabels, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=4, fontsize=9, frameon=False)
    ax.set_title(f"Status poll latency: {lat['simulated']:,} visitors polling at the server's "
                 f"interval ({lat['queued']:,} queued)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ratio_chart(wr: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    http = wr["results"]["http"]
    names = ["status poll / hello-world", "join / hello-world"]
    values = [http["poll_vs_hello"], http["join_vs_hello"]]
    # Older result files have no CPU figures.
    cpu = [http.get("poll_vs_hello_cpu"), http.get("join_vs_hello_cpu")]
    targets = [wr["targets"]["poll_vs_hello"], wr["targets"]["join_vs_hello"]]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    height = 0.36
    for i, (v, c, tg) in enumerate(zip(values, cpu, targets, strict=True)):
        ax.barh(i - height / 2, v, height=height,
                color="tab:green" if v >= tg else "tab:orange",
                label="req/s ratio (wrk)" if i == 0 else None)
        ax.text(v + 0.01, i - height / 2, f"{v:.2f}", va="center", fontsize=9)
        if c is not None:
            ax.barh(i + height / 2, c, height=height, color="tab:blue", alpha=0.6,
                    label="server CPU per request ratio" if i == 0 else None)
            ax.text(c + 0.01, i + height / 2, f"{c:.2f}", va="center", fontsize=9)
        ax.plot([tg, tg], [i - 0.45, i + 0.45], color="black", linewidth=2)
        ax.text(tg + 0.01, i + 0.4, f"target {tg}", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("relative to a bare aiohttp hello-world in the same run")
    ax.legend(loc="lower right", fontsize=8)
    med = http["median_rps"]
    ax.set_title(f"Waiting room throughput (hello-world: {med['hello']:,.0f} req/s)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def admissions_chart(sc: dict[str, Any], path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    sales = [(n, r) for n, r in sc["results"].items() if r.get("ticks")]
    if not sales:
        return None
    fig, axes = plt.subplots(len(sales), 1, figsize=(9, 3.2 * len(sales)), squeeze=False)
    for ax, (name, res) in zip(axes[:, 0], sales, strict=True):
        ticks = res["ticks"]
        # Each point: the admissions of the last `span` ticks over the time since the tick
        # before them, per minute (the same measure as the check, over a sliding window).
        span = 5
        pts = []
        for i in range(span, len(ticks)):
            elapsed = ticks[i][0] - ticks[i - span][0]
            if elapsed > 0:
                pts.append((ticks[i][0], sum(c for _, c in ticks[i - span + 1:i + 1]) * 60
                            / elapsed))
        ax.step([t for t, _ in pts], [v for _, v in pts], where="post",
                label=f"admitted per minute (last {span} ticks)", color="tab:blue")
        ax.axhline(res["admit_per_minute"], color="tab:red", linestyle="--",
                   label=f"knob {res['admit_per_minute']}/min")
        ax2 = ax.twinx()
        q = res["queue_length"]
        ax2.plot([t for t, _ in q], [n for _, n in q], color="tab:grey", alpha=0.6,
                 label="queue length")
        ax2.set_ylabel("waiting")
        ax.set_ylabel("admissions per minute")
        ax.set_ylim(0, res["admit_per_minute"] * 1.4)
        adm = res["admission"]
        measured = (f", measured {adm['measured_per_minute']:.0f}/min"
                    if adm.get("measured_per_minute") else "")
        ax.set_title(f"{name}: admissions against the knob{measured}", fontsize=11)
        lines, labels = ax.get_legend_handles_labels()
        more, mlabels = ax2.get_legend_handles_labels()
        ax.legend(lines + more, labels + mlabels, loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds into the scenario")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput_chart(sc: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    items = [(n, r.get("rps") or 0.0, r.get("p95_ms")) for n, r in sc["results"].items()]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(items) + 1.2))
    names = [n for n, _, _ in items][::-1]
    values = [v for _, v, _ in items][::-1]
    ax.barh(names, values, color="tab:blue", height=0.6)
    ax.set_xscale("log")
    top = max([*values, 1.0])
    for i, (_, v, p95) in enumerate(items[::-1]):
        label = f"{v:,.0f} req/s" + (f", p95 {p95:.0f} ms" if p95 == p95 and p95 else "")
        ax.text(v * 1.08 if v > 0 else 1, i, label, va="center", fontsize=9)
    ax.set_xlim(1, top * 20)
    ax.set_xlabel("requests per second (log scale), all request kinds of the scenario")
    ax.set_title("Throughput per scenario (locust, one process)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark in its quick form")
    parser.add_argument("--only", default=",".join(MODULES),
                        help=f"comma-separated subset of {', '.join(MODULES)}")
    parser.add_argument("--charts-only", action="store_true",
                        help="redraw the charts from the existing results")
    args = parser.parse_args(argv)
    with exit_on_signals():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    outcome: dict[str, Any] = {}
    if not args.charts_only:
        for name in [m for m in MODULES if m in args.only.split(",")]:
            outcome[name] = run_module(name, args.quick)
    for path in charts(args.quick):
        print(f"chart: {path.relative_to(ROOT)}")
    elapsed = time.perf_counter() - started
    if not args.charts_only:
        summary = {"quick": args.quick, "elapsed_s": elapsed, "modules": outcome}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / ("run-quick.json" if args.quick else "run.json")).write_text(
            json.dumps(summary, indent=1) + "\n")
    failed = [n for n, o in outcome.items() if o["status"] not in ("ok", "skipped")]
    print(f"== all done in {elapsed:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
