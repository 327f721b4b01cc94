"""The layers of docs/architecture.md ("Layers"), read from the source: every
``import`` and ``from … import`` of the project's own packages, function-local ones included.

A leaf (settings, metrics, Kafka configuration, redaction, backoff) imports only the leaf;
``schemas`` imports the leaf; ``sinks`` the leaf and ``schemas``; ``streams`` the leaf, ``schemas`` and
``sinks``; the applications in ``blo`` anything. The imports that still go upward are listed in
KNOWN_UPWARD, each with where it goes: the list may only shrink (a listed import that is gone
fails too, so that it is crossed off), and a new upward import fails with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = ("blo", "schemas", "sinks", "streams")
LEAF = ("blo.settings", "blo.metrics", "blo.kafka_config", "blo.redact", "blo.backoff")
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "leaf": LEAF,
    "schemas": (*LEAF, "schemas"),
    "sinks": (*LEAF, "schemas", "sinks"),
    "streams": (*LEAF, "schemas", "sinks", "streams"),
}
# (file, imported module): imports still going upward, each to be removed. Issue 12 (the
# shape refactor) emptied it; keep it empty.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _layer(rel: str) -> str | None:
    module = rel.removesuffix(".py").replace("/", ".")
    if module in LEAF:
        return "leaf"
    top = rel.split("/", 1)[0]
    return top if top in MAY_IMPORT else None


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return [(n, m) for n, m in out if m.split(".")[0] in PROJECT]


def _upward() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for top in PROJECT:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            layer = _layer(rel)
            if layer is None:
                continue
            allowed = MAY_IMPORT[layer]
            for line, module in _imports(path):
                if not any(module == a or module.startswith(a + ".") for a in allowed):
                    found.setdefault((rel, module), line)
    return found


def test_no_new_import_goes_up_a_layer() -> None:
    new = {f"{f}:{line} imports {m}" for (f, m), line in _upward().items()
           if (f, m) not in KNOWN_UPWARD}
    assert not new, ("imports that go up a layer (pass what is needed as a parameter "
                     f"instead; docs/architecture.md, 'Layers'): {sorted(new)}")


def test_the_known_upward_imports_are_crossed_off_when_gone() -> None:
    gone = KNOWN_UPWARD - set(_upward())
    assert not gone, f"no longer imported: remove from KNOWN_UPWARD: {sorted(gone)}"


def test_the_check_reads_the_source() -> None:
    assert len(list((REPO / "streams").rglob("*.py"))) > 20


def test_the_check_sees_function_local_imports(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from blo.api.app import build_api\n    import streams.app\n")
    assert _imports(f) == [(2, "blo.api.app"), (3, "streams.app")]
