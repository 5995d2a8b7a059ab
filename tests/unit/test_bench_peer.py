"""bench.peer: reading the peer tool's results and the side-by-side table with its ratios and aims."""

from __future__ import annotations

import json
from pathlib import Path

from bench.creates import Latency
from bench.peer import UNLOADED, Row, Side, peer_rows, render


def _line(
    scenario: str, conc: int, rps: float, p50: float, cpu: dict[str, float] | None, label: str = "t"
) -> str:
    return json.dumps(
        {
            "label": label,
            "scenario": scenario,
            "n": 100,
            "conc": conc,
            "rps": rps,
            "p50_ms": p50,
            "p99_ms": p50 * 2,
            "codes": {"201" if scenario == "create" else "200": 100},
            "cpu_ms_per_req": cpu,
        }
    )


def test_peer_rows_skip_warmups_and_sum_cpu_over_pid_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "sqlite-1.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                _line("create", 1, 999.0, 1.0, {"gunicorn-1.pid": 1.0}, label="t warmup"),
                _line("create", 1, 80.0, 12.0, {"gunicorn-1.pid": 20.0, "postmaster.pid": 5.5}),
                _line("get", 10, 30.0, 300.0, None),
            ]
        )
        + "\n"
    )
    rows = peer_rows(jsonl)
    assert set(rows) == {("create", 1), ("get", 10)}
    assert rows[("create", 1)].rps == 80.0
    assert rows[("create", 1)].cpu_ms == 25.5
    assert rows[("get", 10)].cpu_ms is None
    assert rows[("get", 10)].failed == 0


def _side(name: str, create10: float, cpu10: float) -> Side:
    side = Side(name)
    side.rows[("create", 10)] = Row(n=500, rps=create10, p50=30.0, p99=60.0, cpu_ms=cpu10, codes={"201": 500})
    side.rows[("get", 1)] = Row(n=40, rps=100.0, p50=4.0, p99=9.0, codes={"200": 39, "500": 1})
    return side


def _cells(table: str, label: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_render_gives_ratios_and_whether_each_aim_is_met() -> None:
    table = render(
        "sqlite", 2000, 500, 40, _side("ours", 600.0, 8.0), _side("django-helpdesk 2.6.1", 150.0, 20.0)
    )
    assert _cells(table, "creates/s, 10 clients") == [
        "creates/s, 10 clients",
        "600.0",
        "150.0",
        "4.00x",
        ">= 3x",
        "yes",
    ]
    assert _cells(table, "server CPU ms/create, 10 clients")[3:] == ["0.40x", "<= 0.33x", "no"]
    assert _cells(table, "GET one ticket p50 ms, 1 client")[1:4] == ["4.00", "4.00", "1.00x"]
    assert _cells(table, "list page of 25 p50 ms, 1 client")[1:4] == ["-", "-", "-"]
    assert "non-2xx answers {'200': 39, '500': 1}" in table


def test_render_says_why_the_peer_is_missing() -> None:
    peer = Side("django-helpdesk 2.6.1", error="run.sh exited with 1: [peer] ERROR: pip install failed")
    table = render("pg", 2000, 500, 40, _side("ours", 600.0, 8.0), peer)
    assert _cells(table, "creates/s, 10 clients")[1:] == ["600.0", "-", "-", ">= 3x", ""]
    assert (
        "django-helpdesk 2.6.1: NOT MEASURED: run.sh exited with 1: [peer] ERROR: pip install failed" in table
    )
    assert "fsync=off" in table


def test_the_event_latency_aims_are_checked_unloaded_and_under_ten_clients_only() -> None:
    ours = _side("ours", 600.0, 8.0)
    ours.latency = {
        UNLOADED: Latency([10.0] * 98 + [40.0, 120.0], 0),
        1: Latency([50.0] * 98 + [150.0, 160.0], 0),
        10: Latency([200.0] * 99 + [700.0], missing=1),
    }
    table = render("sqlite", 2000, 500, 40, ours, Side("django-helpdesk 2.6.1", error="skipped"))
    assert _cells(table, "unloaded (one at a time, 50 ms apart)") == [
        "unloaded (one at a time, 50 ms apart)", "100", "10.0", "120.0", "120.0", "0", "<= 100 ms", "no",
    ]  # fmt: skip
    assert _cells(table, "1 client(s)")[6:] == ["-", ""]  # a closed loop is a load: no aim
    assert _cells(table, "10 client(s)")[1:] == ["100", "200.0", "700.0", "700.0", "1", "<= 500 ms", "no"]
    ours.latency[UNLOADED] = Latency([10.0] * 100, 0)
    table = render("sqlite", 2000, 500, 40, ours, Side("django-helpdesk 2.6.1", error="skipped"))
    assert _cells(table, "unloaded (one at a time, 50 ms apart)")[6:] == ["<= 100 ms", "yes"]
