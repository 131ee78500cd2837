"""Benchmark: reading a large Workday report.

The sandbox serves a report of N made-up terminations (default 100,000); the Workday client reads it once
(with WORKDAY_CONNECT_TIMEOUT / WORKDAY_READ_TIMEOUT) and parses every row into a typed record. Prints JSON:
rows, bytes of the body, seconds to fetch and parse, this process's peak memory (RSS) before and after.

    python benchmarks/large_report.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import MachineLoad  # noqa: E402
from benchmarks.stack import Stack  # noqa: E402


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def run(rows: int) -> dict:
    load = MachineLoad()
    with Stack("sqlite") as stack:
        from offboarding.clients.workday import WorkdayClient

        control = f"{stack.sandbox_url}/_sandbox"
        requests.post(f"{control}/workday/generate", json={"count": rows}, timeout=600).raise_for_status()
        client = WorkdayClient.from_settings()
        sizes = []
        # The body is streamed: its size is what the sandbox announces, not read here a second time.
        client.transport.session.hooks["response"].append(
            lambda response, **_: sizes.append(int(response.headers.get("Content-Length", 0)))
        )
        before = peak_rss_mb()
        started = time.perf_counter()
        report = client.fetch_terminations()
        seconds = time.perf_counter() - started
        return {
            "rows": len(report.terminations),
            "row_errors": len(report.row_errors),
            "bytes": sizes[-1],
            "seconds_fetch_and_parse": round(seconds, 2),
            "peak_rss_mb_before": before,
            "peak_rss_mb_after": peak_rss_mb(),
            "dates": "the sandbox's made-up rows, only read and parsed: nothing waits on their dates",
            "machine": load.report(),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    print(json.dumps(run(parser.parse_args().rows), indent=2))
