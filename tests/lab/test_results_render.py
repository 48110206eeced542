"""The committed lab benchmark rows re-render the RESULTS.md sections they came from."""
from __future__ import annotations

import json

import pytest

from benchmarks.lab_erasure import load, report
from benchmarks.lab_worlds import BENCHES
from benchmarks.results_md import RESULTS
from benchmarks.tradeoff import curves, draw


@pytest.mark.parametrize("world", list(BENCHES))
def test_committed_rows_render_their_section(world):
    bench = BENCHES[world]
    results = RESULTS.parent / "results"  # the section's rows, and rows added to it later
    rows, search_rows = load(bench, [results / f"{bench.section}.json",
                                     *sorted(results.glob(f"{bench.section}_*.json"))])
    body = report(bench, rows, search_rows, None, bench.section, grid=False).rstrip().splitlines()
    text = RESULTS.read_text()
    section = text.split(f"<!-- {bench.section}:start -->\n")[1].split(f"\n<!-- {bench.section}:end -->")[0]
    committed = section.splitlines()
    # line 2 is the command that made it and the machine: the rest is the rows and their reading
    assert body[:2] + body[3:] == committed[:2] + committed[3:]


def test_committed_three_style_rows_render_their_section():
    from benchmarks.lab_many import SECTION, Row, report

    results = RESULTS.parent / "results"
    rows = [Row(**r) for path in sorted(results.glob(f"{SECTION}*.json")) for r in json.loads(path.read_text())]
    body = report(rows, None).rstrip().splitlines()
    text = RESULTS.read_text()
    committed = text.split(f"<!-- {SECTION}:start -->\n")[1].split(f"\n<!-- {SECTION}:end -->")[0].splitlines()
    assert body[:2] + body[3:] == committed[:2] + committed[3:]


# ESD stopped by the rule; the paper's regime and ESD as published (4 budgets, 3 seeds); the
# paper's regime screened (each anchor loss and δ step, one seed)
EXTRA = ("lab_stopping", "lab_regime", "lab_regime_screen")


@pytest.mark.parametrize("world", list(BENCHES))
@pytest.mark.parametrize("extra", EXTRA)
def test_committed_extra_rows_render_their_section(world, extra):
    """Sections of extra variants (`--section <extra>_<world>`), rendered as the world's table;
    every row knows where its erasure ended."""
    bench, section = BENCHES[world], f"{extra}_{world}"
    rows, search_rows = load(bench, [RESULTS.parent / "results" / f"{section}.json"])
    body = report(bench, rows, search_rows, None, section, grid=False).rstrip().splitlines()
    text = RESULTS.read_text()
    committed = text.split(f"<!-- {section}:start -->\n")[1].split(f"\n<!-- {section}:end -->")[0].splitlines()
    assert all(r.updates is not None for r in rows)
    assert body[:2] + body[3:] == committed[:2] + committed[3:]


@pytest.mark.parametrize("world", list(BENCHES))
def test_a_run_read_at_four_budgets_is_one_curve_of_four_points(world, tmp_path):
    bench = BENCHES[world]
    rows, _ = load(bench, [RESULTS.parent / "results" / f"lab_regime_{world}.json"])
    data = curves(rows, bench.key)
    assert len(data) == 2  # a tuned and a never-tuned concept
    for methods in data.values():
        for method, budgets in methods.items():
            updates = [n for n, _ in budgets]
            assert len(updates) == 4 and updates == sorted(updates), method
            assert all(len(rs) == 3 for _, rs in budgets), method  # three seeds a point
    assert draw(rows, bench.key, tmp_path / "curves.png", "t").stat().st_size > 10_000
