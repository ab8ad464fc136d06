"""docs/numerics.md's generated tables are what the shipped model measures today."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.core.docgen import read_sections, replace_sections

DOC = Path(__file__).resolve().parents[2] / "docs" / "numerics.md"


def test_documented_tables_are_recomputed_exactly(tmp_path):
    copy = tmp_path / "numerics.md"
    copy.write_text(DOC.read_text())
    result = CliRunner().invoke(main, ["numerics", "--task", "sst2", "--update-doc", str(copy)])
    assert result.exit_code == 0, result.output
    documented, measured = read_sections(DOC.read_text()), read_sections(copy.read_text())
    assert set(documented) == {"formats", "special_functions", "ladder"}
    for name in documented:
        assert measured[name] == documented[name], f"docs/numerics.md section {name} is stale"


def test_ladder_keeps_accuracy_within_a_point():
    rows = {r.split(" | ")[0].lstrip("| "): r for r in read_sections(DOC.read_text())["ladder"].splitlines()[2:]}
    acc = {k: float(v.split(" | ")[1]) for k, v in rows.items()}
    float_acc = acc["float, pruned + adaptive span (as trained)"]
    assert abs(acc["golden integer model, all layers (special-function tables)"] - float_acc) <= 0.01


def test_section_replacement_needs_its_marker():
    with pytest.raises(ValueError, match="generated:ladder"):
        replace_sections("no markers here", {"ladder": "x"})
