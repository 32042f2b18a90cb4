"""``python -m bench``: every target of the benchmark suite, side by side, into docs/benchmarks.md.

Each comparison runs its contenders in alternation, round after round, in one run on one machine;
figures are medians with the range over the rounds. ``--quick`` runs fewer, shorter rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import httpx

from . import apps
from .harness import ROOT, Spread, app_server, call_many, rss_mb, standin, wrk
from .standin import ANSWER

DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Row:
    target: str
    goal: str
    measured: str
    met: bool | None  # None: reported, no goal


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    chart: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, target: str, goal: str, measured: str, met: bool | None) -> None:
        self.rows.append(Row(target, goal, measured, met))
        mark = {True: "met", False: "MISSED", None: "-"}[met]
        print(f"  {target:58} {measured:34} goal {goal:14} {mark}", flush=True)


@dataclass
class Plan:
    rounds: int
    seconds: float
    calls: int  # in-process calls per round, for the hello-world route


# --- 1. unused: what a request that does not personalise pays -----------------------------


def unused(report: Report, plan: Plan) -> None:
    print("1. unused requests", flush=True)
    contenders = {
        "hello": apps.starlette_app(apps.hello, middleware=False),
        "hello+pc": apps.starlette_app(apps.hello, middleware=True),
        "hello+plain": apps.Starlette(routes=apps.starlette_app(apps.hello, middleware=False).routes),
        "page": apps.starlette_app(apps.product_page, middleware=False),
        "page+pc": apps.starlette_app(apps.product_page, middleware=True),
    }
    contenders["hello+plain"].add_middleware(apps.PlainMiddleware)
    times: dict[str, list[float]] = {name: [] for name in contenders}

    async def measure() -> None:
        for app in contenders.values():
            await call_many(app, 500)
        for _ in range(plan.rounds):
            for name, app in contenders.items():
                count = plan.calls if name.startswith("hello") else plan.calls // 5
                gc.collect()
                times[name].append(await call_many(app, count) / count)

    asyncio.run(measure())
    hello, page = Spread(ratio(times, "hello+pc", "hello")), Spread(ratio(times, "page+pc", "page"))
    plain = Spread(ratio(times, "hello+plain", "hello"))
    bare_us = statistics.median(times["hello"]) * 1e6
    label = f"in-process, hello world ({bare_us:.1f} µs bare): with / without"
    report.add(label, "≤ 1.10", str(hello), hello.median <= 1.10)
    report.add("in-process, hello world: a plain middleware (reference)", "-", str(plain), None)
    page_us = statistics.median(times["page"]) * 1e6
    report.add(f"in-process, Jinja2 product page ({page_us:.0f} µs bare)", "≤ 1.02", str(page), page.median <= 1.02)
    report.chart["Unused: time with / without"] = {"hello": hello.median, "plain mw": plain.median, "page": page.median}

    rps: dict[str, list[float]] = {"hello": [], "hello+pc": []}
    for _ in range(max(2, plan.rounds - 2)):  # fewer, as the whole suite must stay under 5 minutes
        for name in rps:
            with app_server(name) as server:
                rps[name].append(wrk(server.url, connections=32, seconds=plan.seconds).rps)
    over_uvicorn = Spread([bare / with_pc for bare, with_pc in zip(rps["hello"], rps["hello+pc"], strict=True)])
    measured = f"{over_uvicorn} ({statistics.median(rps['hello+pc']):.0f} req/s)"
    report.add("uvicorn + wrk, hello world: time with / without", "-", measured, None)


def ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> list[float]:
    return [a / b for a, b in zip(times[numerator], times[denominator], strict=True)]


# --- 2. used: the middleware against the same call by hand and naively ---------------------


def used(report: Report, plan: Plan) -> None:
    print("2. personalised requests", flush=True)
    cpu: dict[str, list[float]] = {"by_hand": [], "personalised": [], "naive": []}
    rps: dict[str, list[float]] = {name: [] for name in cpu}
    with standin() as api:
        before = api.cpu_seconds()
        alone = wrk(api.url + "/api/serverside", connections=16, seconds=plan.seconds)
        api_cpu_us = (api.cpu_seconds() - before) / alone.requests * 1e6
        for _ in range(plan.rounds):
            for name in cpu:
                with app_server(name, api.url) as server:
                    wrk(server.url, connections=16, seconds=1)  # connections made, caches warm
                    before = server.cpu_seconds()
                    load = wrk(server.url, connections=16, seconds=max(1.0, plan.seconds - 1))
                    cpu[name].append((server.cpu_seconds() - before) / load.requests * 1e6)
                    rps[name].append(load.rps)
    report.add("API stand-in alone (reported apart)", "-", f"{alone.rps:.0f} req/s, {api_cpu_us:.0f} µs CPU each", None)
    cpu_ratio = Spread(ratio(cpu, "personalised", "by_hand"))
    hand_us = statistics.median(cpu["by_hand"])
    label = f"CPU per request vs by hand ({hand_us:.0f} µs by hand)"
    report.add(label, "≤ 1.10", str(cpu_ratio), cpu_ratio.median <= 1.10)
    speedup = Spread(ratio(rps, "personalised", "naive"))
    rps_pc = statistics.median(rps["personalised"])
    report.add(f"throughput vs a client per request ({rps_pc:.0f} req/s)", "≥ 3", str(speedup), speedup.median >= 3)
    report.chart["CPU per personalised request (µs)"] = {name: statistics.median(v) for name, v in cpu.items()}


# --- 3. latency hiding: prefetch() -----------------------------------------------------------

WORK = 0.05


async def _page_times(api_url: str, prefetch: bool, samples: int) -> list[float]:
    async def page(request: apps.Request) -> apps.Response:
        pc = request.state.pureclarity
        pc.track("product_view", {"id": "P100"})
        pc.add_zones("PP-01", "PP-02")
        if prefetch:
            pc.prefetch()
        await anyio.sleep(WORK)  # the page's own work: a database query, say
        result = await pc.fetch()
        return apps.PlainTextResponse(f"{len(result.zones)} zones")

    app = apps.starlette_app(page, middleware=True, api_url=api_url)
    transport = httpx.ASGITransport(app=app)
    times = []
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        for _ in range(samples + 2):
            started = time.perf_counter()
            answer = await client.get("/")
            times.append(time.perf_counter() - started)
            assert answer.text == "4 zones", answer.text
    return times[2:]  # the first ones open the connection


def latency_hiding(report: Report, plan: Plan) -> None:
    print("3. latency hiding", flush=True)
    samples = 5 * plan.rounds
    with standin(latency_ms=50) as api:
        series = {
            "no prefetch": anyio.run(_page_times, api.url, False, samples),
            "prefetch (asyncio)": anyio.run(_page_times, api.url, True, samples),
            "prefetch (trio)": anyio.run(_page_times, api.url, True, samples, backend="trio"),
        }
    medians = {name: statistics.median(values) * 1000 for name, values in series.items()}
    for name, values in series.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        met, goal = (None, "-") if name == "no prefetch" else (medians[name] <= 60, "≤ 60 ms")
        report.add(f"50 ms work + 50 ms API: page, {name}", goal, f"{medians[name]:.1f} ms (p90 {p90:.1f})", met)
    report.chart["Page time, 50 ms work + 50 ms API (ms)"] = medians


# --- 4. deadline under load -----------------------------------------------------------------

TIMEOUT = 0.5


def deadline(report: Report, plan: Plan) -> None:
    print("4. deadline under load", flush=True)
    contenders = {  # name: (app, breaker threshold, label)
        "sleeper": ("sleeper", "5", "a bare page sleeping 0.5 s (the harness)"),
        "no breaker": ("deadline", "1000000", "API hanging, every call waits (breaker off)"),
        "breaker": ("deadline", "5", "API hanging, default breaker"),
    }
    results: dict[str, list[Any]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    with standin(hang=True) as api:
        for _ in range(max(2, plan.rounds - 2)):
            for name, (app, threshold, _) in contenders.items():
                env = {"BENCH_TIMEOUT": str(TIMEOUT), "BENCH_BREAKER_THRESHOLD": threshold}
                with app_server(app, api.url, **env) as server:
                    before = server.cpu_seconds()
                    load = wrk(server.url, connections=200, seconds=plan.seconds + 1)
                    results[name].append(load)
                    cpu[name].append((server.cpu_seconds() - before) / load.requests * 1e6)
    goal_ms = TIMEOUT * 1000 + 20
    for name, (_, _, label) in contenders.items():
        p99 = Spread([r.p99_ms for r in results[name]])
        p50 = statistics.median(r.p50_ms for r in results[name])
        rps = statistics.median(r.rps for r in results[name])
        measured = f"p99 {p99} ms, p50 {p50:.0f}, {rps:.0f} req/s, {statistics.median(cpu[name]):.0f} µs CPU each"
        met, goal = (None, "-") if name == "sleeper" else (p99.median <= goal_ms, f"p99 ≤ {goal_ms:.0f} ms")
        report.add(f"200 concurrent, timeout 0.5 s: {label}", goal, measured, met)
    report.chart["200 concurrent, API hanging: p99 (ms)"] = {
        name: statistics.median(r.p99_ms for r in results[name]) for name in contenders
    }


# --- 5. memory --------------------------------------------------------------------------------


def memory(report: Report, plan: Plan) -> None:
    print("5. memory", flush=True)
    total = 100_000 if plan.rounds > 2 else 20_000
    answer = httpx.Response(200, content=ANSWER, headers={"content-type": "application/json"})
    transport = httpx.MockTransport(lambda request: answer)
    app = apps.Starlette(
        routes=[apps.Route("/", apps.personalised)],
        middleware=[apps.Middleware(apps.PureClarityMiddleware, settings=apps.settings(), transport=transport)],
    )

    async def run() -> tuple[float, float]:
        await call_many(app, 5_000)
        gc.collect()
        start = rss_mb()
        await call_many(app, total)
        gc.collect()
        return start, rss_mb()

    start, end = asyncio.run(run())
    measured = f"{end - start:+.1f} MB ({start:.0f} → {end:.0f} MB)"
    report.add(f"RSS growth over {total:,} personalised requests", "≤ 10 MB", measured, end - start <= 10)


# --- 6. transport -------------------------------------------------------------------------------


def transport(report: Report, plan: Plan) -> None:
    print("6. transport", flush=True)
    from pc_middleware.client import PureClarityClient

    body = {"events": [apps.PAGE_VIEW, apps.PRODUCT_VIEW], "zones": ["PP-01", "PP-02"], "ip": "203.0.113.7"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    contenders: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
        "httpx's own pool": lambda: httpx.AsyncHTTPTransport(limits=limits),
        "httpx, our pool": lambda: None,  # the default
        "aiohttp": lambda: None,
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}

    async def calls_per_second(api_url: str, name: str) -> float:
        kind = "aiohttp" if name == "aiohttp" else "httpx"
        settings = apps.settings(api_url=api_url, timeout=10, transport=kind)
        client = PureClarityClient(settings, transport=contenders[name]())
        done = 0

        async def worker(until: float) -> None:
            nonlocal done
            while time.perf_counter() < until:
                outcome = await client.call(body)
                assert not outcome.errors, outcome.errors
                done += 1

        await gather(worker, 64, time.perf_counter() + 0.5)  # warm: 64 connections open
        done = 0
        started = time.perf_counter()
        await gather(worker, 64, started + plan.seconds / 2)
        rate = done / (time.perf_counter() - started)
        await client.aclose()
        return rate

    with standin() as api:
        for _ in range(plan.rounds):
            for name in contenders:
                rates[name].append(asyncio.run(calls_per_second(api.url, name)))
    for name in contenders:
        report.add(f"64 concurrent calls: {name}", "-", f"{statistics.median(rates[name]):.0f} calls/s", None)
    ours = Spread(ratio(rates, "httpx, our pool", "httpx's own pool"))
    report.add("  our pool / httpx's own pool", "-", str(ours), None)
    speedup = Spread(ratio(rates, "aiohttp", "httpx, our pool"))
    report.add("  aiohttp / the default (an extra if ≥ 1.20)", "≥ 1.20", str(speedup), speedup.median >= 1.2)
    report.chart["64 concurrent calls (calls/s)"] = {name: statistics.median(v) for name, v in rates.items()}


async def gather(worker: Callable[[float], Coroutine[Any, Any, None]], count: int, until: float) -> None:
    await asyncio.gather(*(worker(until) for _ in range(count)))


# --- the report ---------------------------------------------------------------------------------


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "unknown CPU")

    packages = ", ".join(f"{name} {version(name)}" for name in ("starlette", "httpx", "pydantic", "uvicorn", "uvloop"))
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; {packages}"


VERDICT = {True: "met", False: "**missed**", None: ""}


def write(report: Report, took: float) -> None:
    lines = [
        START,
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {took:.0f} s, on {machine()}.",
        "",
        "| target | goal | measured: median (range over rounds) | |",
        "|---|---|---|---|",
        *(f"| {row.target} | {row.goal} | {row.measured} | {VERDICT[row.met]} |" for row in report.rows),
        "",
        "![The figures as a chart](benchmarks.png)",
        END,
    ]
    block = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(before + block + after)
    draw(report)


def draw(report: Report) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(report.chart.items())
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    for axis, (title, values) in zip(axes.flat, panels, strict=False):
        bars = axis.bar(list(values), list(values.values()), color="#4a7ab5")
        axis.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values.values()])
        if max(values.values()) > 20 * min(values.values()):
            axis.set_yscale("log")  # one contender far off the others: keep the rest readable
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", labelsize=8)
    for axis in list(axes.flat)[len(panels) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(CHART, dpi=90)


SUITES = {
    "unused": unused,
    "used": used,
    "latency": latency_hiding,
    "deadline": deadline,
    "memory": memory,
    "transport": transport,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds; nothing is written")
    # [] among the choices: argparse checks an empty nargs="*" default against them (python/cpython#53584)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], help="run only these")
    args = parser.parse_args()
    plan = Plan(rounds=2, seconds=2, calls=5_000) if args.quick else Plan(rounds=5, seconds=4, calls=20_000)
    report = Report()
    started = time.perf_counter()
    for name in args.suites or SUITES:
        SUITES[name](report, plan)
    if not args.quick and not args.suites:
        write(report, time.perf_counter() - started)
        print(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
