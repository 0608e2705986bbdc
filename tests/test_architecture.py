"""The shape of the code, drawn from its own imports (DESIGN.md, "Layout and the one-way rule"):
two faces over one service layer over the core; one wiring place; no import circles.

Every import counts, also those inside functions: a lazy import is an arrow all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archive", "ingest", "retention", "reports", "scanners", "config", "commands", "web",
            "documents")
TOP_MODULES = ("cli", "bootstrap")
FACES = ("cli", "commands", "web")
SCREEN = ("rich", "click", "flask", "werkzeug", "jinja2")
# adapters, and the one module that builds them from settings
ADAPTERS = {"SQLiteCatalog", "MongoCatalog", "LocalWormStore", "S3WormStore", "Archive"}


def _modules() -> dict[str, Path]:
    found = {m: ROOT / f"{m}.py" for m in TOP_MODULES if (ROOT / f"{m}.py").exists()}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py") if (ROOT / pkg).is_dir() else ():
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (custody's own resolved to modules, others by root)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(module: str) -> str:
    return module.split(".")[0]


def _arrows(where: str) -> list[tuple[str, str]]:
    return [(m, i) for m, imported in GRAPH.items() if _top(m) == where for i in imported]


def test_the_tree_is_read():
    assert {"cli", "bootstrap", "archive.service", "ingest.pipeline",
            "retention.engine", "reports.statistics", "commands.base"} <= set(MODULES)


def test_no_import_circles():
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if n not in GRAPH or n == m:
                continue
            if state.get(n) == 1:
                circles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert circles == []


@pytest.mark.parametrize("layer, forbidden", [
    # the core enforces; it knows no face, no screen, no rule-maker, no report, no wiring
    ("archive", FACES + SCREEN + ("ingest", "retention", "reports", "bootstrap", "documents")),
    # the rules know nothing of intake or reports
    ("retention", FACES + SCREEN + ("ingest", "reports", "bootstrap", "documents")),
    ("ingest", FACES + SCREEN + ("reports", "bootstrap", "documents")),
    ("reports", FACES + SCREEN + ("ingest", "bootstrap")),
    # a leaf that judges bytes
    ("scanners", FACES + SCREEN + ("archive", "ingest", "retention", "reports", "config",
                                   "bootstrap", "documents")),
    ("config", FACES + SCREEN + ("ingest", "retention", "reports", "bootstrap", "scanners",
                                 "documents")),
    # official documents: a service over the others that renders HTML (jinja2) to PDF; it
    # takes its adapters like any service, and no face
    ("documents", FACES + ("rich", "click", "flask", "werkzeug", "ingest", "bootstrap")),
    # one face never imports another
    ("commands", ("web",)),
    ("web", ("cli", "commands")),
])
def test_imports_run_one_way(layer, forbidden):
    wrong = sorted(f"{m} -> {i}" for m, i in _arrows(layer) if _top(i) in forbidden)
    assert wrong == []


def test_one_wiring_place():
    """Only bootstrap builds adapters and the archive from settings (an adapter module may
    name its own class)."""
    built = []
    for name, path in MODULES.items():
        if name == "bootstrap":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else (
                    f.attr if isinstance(f, ast.Attribute) else None)
                if called in ADAPTERS and not _defines(path, called):
                    built.append(f"{name}: {called}(...)")
    assert built == []


def _defines(path: Path, cls: str) -> bool:
    return f"class {cls}(" in path.read_text()


def test_the_core_is_organised_by_role():
    """archive/ keeps at most five modules at its root; the rest in sub-packages."""
    root = sorted(p.name for p in (ROOT / "archive").glob("*.py") if p.name != "__init__.py")
    assert len(root) <= 5, root
    for sub in ("domain", "catalog", "worm", "integrity", "ledger", "packaging", "access",
                "copies"):
        assert (ROOT / "archive" / sub / "__init__.py").exists()


def test_the_domain_is_pure():
    """The domain model does no I/O: no store, no catalog, no files, no network."""
    impure = ("archive.catalog", "archive.worm", "archive.ledger", "archive.service", "os",
              "socket", "subprocess", "boto3", "pymongo", "sqlite3")
    wrong = sorted(f"{m} -> {i}" for m, imported in GRAPH.items()
                   if m.startswith("archive.domain.") for i in imported
                   if any(i == x or i.startswith(x + ".") for x in impure))
    assert wrong == []


def test_nothing_below_the_faces_prints():
    printing = []
    for name, path in MODULES.items():
        if _top(name) in FACES or name == "bootstrap":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "print":
                printing.append(name)
    assert printing == []


def test_faces_hold_no_logic_a_second_face_would_copy():
    """A command parses, calls one service and renders: no ledger entry, no catalog query, no
    masking, no role check in a face."""
    banned = ("ledger.append", "catalog.list_records", "catalog.get_record",
              "catalog.search", "catalog.count", "catalog.iter_items", "catalog.put_record",
              "require_role", "record_refusal", "mask_", "visible(", "hidden(")
    found = []
    for name, path in MODULES.items():
        if _top(name) not in FACES:
            continue
        text = path.read_text()
        found += [f"{name}: {b}" for b in banned if b in text]
    assert found == []
