"""The pure cores (the ingest stages, the window core, the alert core) import nothing of
``sinks/`` (storage) nor of the applications in ``blo`` (the leaf of docs/architecture.md,
settings and metrics, aside: the window configuration is built from its settings): their rows are the named types of
``schemas.rows``, so a reader and a test need no table spec or driver to follow them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.test_layers import LEAF

REPO = Path(__file__).resolve().parents[3]
CORES = ("streams/stages", "streams/windows", "streams/alerts")


def _project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in ("sinks", "blo") and m not in LEAF}


def test_the_pure_cores_import_neither_sinks_nor_blo() -> None:
    files = [p for core in CORES for p in sorted((REPO / core).rglob("*.py"))]
    assert len(files) > 20
    bad = {p.relative_to(REPO).as_posix(): sorted(_project_imports(p)) for p in files}
    assert {f: m for f, m in bad.items() if m} == {}
