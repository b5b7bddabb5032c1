"""What the join proof of work costs a real browser (Debian chromium through Playwright).

For each difficulty, fresh visitors open the queue page of a room asking that much work; the
page solves its challenge with crypto.subtle, joins, and lands on the queue page. Reported per
difficulty: the median and the slowest time from opening the page to holding a number, the
hashes tried, and the hash rate. A Python solver gives the cost to a script for comparison.

    .venv/bin/python -m bench.pow_cost [--difficulties 0,12,16,18,20] [--visitors 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from fairgate.config import Settings
from fairgate.embedded import ensure_backends
from waitingroom import pow as pow_mod
from waitingroom.app import create_app


def _note_solution(out: list[int], request: Any) -> None:
    if request.method == "POST" and request.post_data and '"pow"' in request.post_data:
        out.append(int(json.loads(request.post_data)["pow"]["solution"]) + 1)


async def _measure(base: str, difficulties: list[int], visitors: int,
                   admin: dict[str, str]) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    rows = []
    async with async_playwright() as pw, ClientSession() as http:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium"),
                                           args=["--no-sandbox", "--disable-gpu"])
        for difficulty in difficulties:
            room = f"pow{difficulty}-{int(time.time())}"
            async with http.put(f"{base}/admin/api/rooms/{room}", headers=admin, json={
                "target_url": "http://127.0.0.1:9/enter", "admit_per_minute": 0,
                "pow_difficulty": difficulty}) as resp:
                assert resp.status in (200, 201), await resp.text()
            times, hashes, browser_hashes = [], [], []
            for _ in range(visitors):
                context = await browser.new_context()
                page = await context.new_page()
                # The solution is the counter the page stopped at: the hashes it tried.
                page.on("request", functools.partial(_note_solution, browser_hashes))
                started = time.perf_counter()
                await page.goto(f"{base}/r/{room}", wait_until="commit")
                await page.wait_for_selector("#queue[data-number]", timeout=300_000)
                times.append(time.perf_counter() - started)
                await context.close()
            # A script solving the same way in Python, for comparison.
            py_started = time.perf_counter()
            for i in range(visitors):
                hashes.append(int(pow_mod.solve(f"bench-{difficulty}-{i}", difficulty)) + 1)
            py_s = (time.perf_counter() - py_started) / visitors
            rows.append({
                "difficulty": difficulty,
                "visitors": visitors,
                "browser_median_s": round(statistics.median(times), 3),
                "browser_max_s": round(max(times), 3),
                "expected_hashes": 2 ** difficulty,
                "browser_hashes_per_s": round(sum(browser_hashes) / sum(times))
                if browser_hashes else None,
                "python_median_hashes": int(statistics.median(hashes)),
                "python_s_per_ticket": round(py_s, 3),
            })
            print(json.dumps(rows[-1]), flush=True)
        rows.append(await _subtle_rate(browser, base))
        print(json.dumps(rows[-1]), flush=True)
        await browser.close()
    return rows


SUBTLE_RATE_JS = """async () => {
    const enc = new TextEncoder(), input = (i) => enc.encode("challenge-text:" + i);
    const t = performance.now();
    let n = 0;
    while (performance.now() - t < 2000) {
      const jobs = [];
      for (let i = 0; i < 256; i++) { jobs.push(crypto.subtle.digest("SHA-256", input(n + i))); }
      await Promise.all(jobs);
      n += 256;
    }
    return Math.round(n / ((performance.now() - t) / 1000));
}"""


async def _subtle_rate(browser: Any, base: str) -> dict[str, Any]:
    """crypto.subtle SHA-256 per second (256 in flight) on the same input sizes, on a page of
    the app with no solver running."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/healthz")
    rate = await page.evaluate(SUBTLE_RATE_JS)
    await context.close()
    return {"crypto_subtle_hashes_per_s": rate}


async def _main(difficulties: list[int], visitors: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="fairgate-pow-"))
    backends = ensure_backends(data_dir, None, None, need_postgres=False)
    try:
        settings = Settings.from_env({
            "REDIS_URL": backends.redis_url or "", "DATA_DIR": str(data_dir),
            "SECRET_KEYS": "pow-bench-key-0123456789abcdef",
            "ADMIN_TOKEN": "pow-bench-admin-0123456789",
        })
        server = TestServer(create_app(settings, backends.redis_url or ""), host="127.0.0.1")
        await server.start_server()
        try:
            base = str(server.make_url("")).rstrip("/")
            admin = {"Authorization": f"Bearer {settings.admin_token}"}
            await _measure(base, difficulties, visitors, admin)
        finally:
            await server.close()
    finally:
        backends.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulties", default="0,12,16,18,20")
    parser.add_argument("--visitors", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_main([int(d) for d in args.difficulties.split(",")], args.visitors))


if __name__ == "__main__":
    main()
