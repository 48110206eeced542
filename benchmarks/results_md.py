"""benchmarks/RESULTS.md is shared by every benchmark: each owns one marked section."""
from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` (or append it)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def add_row_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark that keeps its rows shares: print only, dump the rows as
    JSON, or render the section again from such dumps without running."""
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also dump every row here (rewritten after each)")
    parser.add_argument("--rows-from", nargs="+", type=Path,
                        help="render RESULTS.md from earlier --json dumps instead of running")
