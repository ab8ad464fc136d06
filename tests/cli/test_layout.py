"""The command line stays a thin layer: no file under scripts/ over 300 lines, and no Python
module of the project over 450."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = {"build", "runs", "node_modules"}


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def _project_files(pattern: str, root: Path = REPO):
    for p in root.rglob(pattern):
        parts = p.relative_to(REPO).parts
        if p.is_file() and not any(part.startswith(".") or part in SKIP or part == "__pycache__" for part in parts):
            yield p


def test_no_file_under_scripts_is_over_300_lines():
    files = list(_project_files("*", REPO / "scripts"))
    assert any(f.name == "__init__.py" for f in files)
    long = {str(f.relative_to(REPO)): _lines(f) for f in files if _lines(f) > 300}
    assert not long, long


def test_no_python_module_is_over_450_lines():
    files = list(_project_files("*.py"))
    assert len(files) > 50
    long = {str(f.relative_to(REPO)): _lines(f) for f in files if _lines(f) > 450}
    assert not long, long
