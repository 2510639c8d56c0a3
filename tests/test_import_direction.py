"""Imports point downward (ARCHITECTURE.md): temporal and spatial never import each other; nothing in
stvg except pipeline.py (and visualize.py) imports them; library packages never import tools."""
import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def imported_top_levels(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


FORBIDDEN = {
    "temporal": {"spatial", "tools"},
    "spatial": {"temporal", "tools"},
    "stvg": {"temporal", "spatial", "tools"},
}
ALLOWED_IN_STVG = {"pipeline.py", "visualize.py"}


def test_import_direction():
    bad = []
    for pkg, forbidden in FORBIDDEN.items():
        for path in (REPO / pkg).rglob("*.py"):
            if pkg == "stvg" and path.name in ALLOWED_IN_STVG and path.parent == REPO / "stvg":
                continue
            for mod, line in imported_top_levels(path):
                if mod in forbidden:
                    bad.append(f"{path.relative_to(REPO)}:{line} imports {mod}")
    assert not bad, "imports pointing the wrong way:\n" + "\n".join(bad)


def test_tools_do_not_edit_sys_path():
    """Every tool works from a fresh checkout after `make install` (the package is installed), so none
    edits sys.path; a missing package is an ImportError that names it."""
    bad = []
    for path in sorted((REPO / "tools").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "path" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "sys.path used in tools:\n" + "\n".join(bad)
