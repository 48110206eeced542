"""The committed lab benchmark rows re-render the RESULTS.md sections they came from."""
from __future__ import annotations

import json

import pytest

from benchmarks.lab_erasure import load, report
from benchmarks.lab_worlds import BENCHES
from benchmarks.results_md import RESULTS


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


@pytest.mark.parametrize("world", list(BENCHES))
def test_committed_stopping_rows_render_their_section(world):
    """The stopping rule's look (`--section lab_stopping_<world>`): ESD stopped at a held-out
    `moved` against ESD's full budget, rendered as the world's table."""
    bench, section = BENCHES[world], f"lab_stopping_{world}"
    rows, search_rows = load(bench, [RESULTS.parent / "results" / f"{section}.json"])
    body = report(bench, rows, search_rows, None, section, grid=False).rstrip().splitlines()
    text = RESULTS.read_text()
    committed = text.split(f"<!-- {section}:start -->\n")[1].split(f"\n<!-- {section}:end -->")[0].splitlines()
    assert all(r.updates is not None for r in rows)
    assert body[:2] + body[3:] == committed[:2] + committed[3:]
