"""The README's demo runs in both lab worlds and prints its before/after table (small sizes)."""
from __future__ import annotations

import pytest

from advanchor_lab import demo


@pytest.mark.parametrize("concept, first_row", [("green", '"green" still drawn'),
                                                ("plimm", '"plimm" attributes still drawn')])
def test_the_demo_erases_and_writes_its_figures(concept, first_row, tmp_path, capsys):
    demo.main(["--concept", concept, "--samples", "6", "--threads", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert first_row in out and "preservation" in out and "denoiser passes/update" in out
    assert (tmp_path / "grid.png").stat().st_size > 0 and (tmp_path / "loss.png").stat().st_size > 0


def test_an_unknown_concept_names_what_the_demo_takes(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--concept", "zorbik", "--samples", "6"])
    err = capsys.readouterr().err
    assert "not a lab concept" in err and "zorbic" in err and "stripes" in err
