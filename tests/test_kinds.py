"""Every test module has one kind, declared in one place (tests/conftest.py KIND_MODULES), and the kinds are
pytest markers that `-m` can select. Ground truth: the files in tests/ and their source (ast), pytest's
own marker registry and the items this session collected."""
import ast
from pathlib import Path

from tests import conftest

TESTS = Path(__file__).resolve().parent


def _modules():
    return sorted(p.stem for p in TESTS.glob("test_*.py"))


def test_every_module_has_exactly_one_kind():
    declared = [m for mods in conftest.KIND_MODULES.values() for m in mods]
    twice = sorted({m for m in declared if declared.count(m) > 1})
    assert not twice, "modules with more than one kind in tests/conftest.py KIND_MODULES: %s" % twice
    missing = sorted(set(_modules()) - set(declared))
    assert not missing, "test modules with no kind: add them to tests/conftest.py KIND_MODULES: %s" % missing
    stale = sorted(set(declared) - set(_modules()))
    assert not stale, "KIND_MODULES names modules that do not exist: %s" % stale


def _marks_in(node: ast.AST):
    """The kinds named as pytest.mark.KIND anywhere in an expression."""
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in conftest.KINDS
            and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"}


def test_no_module_declares_its_kind_itself():
    """A module's pytestmark names no kind: KIND_MODULES is the one place (a test may carry its own)."""
    found = {}
    for name in _modules():
        tree = ast.parse((TESTS / (name + ".py")).read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                    for t in node.targets):
                kinds = _marks_in(node.value)
                if kinds:
                    found[name] = sorted(kinds)
    assert not found, "declare these in tests/conftest.py KIND_MODULES instead: %s" % found


def test_kinds_are_registered_markers(pytestconfig):
    registered = {line.split(":", 1)[0].strip() for line in pytestconfig.getini("markers")}
    assert set(conftest.KINDS) == {"unit", "gdb", "fuzz", "lab"}
    assert set(conftest.KINDS) <= registered, registered


def test_every_collected_test_has_one_kind(request):
    """What -m selects by: each test this session collected carries exactly one kind marker."""
    items = request.session.items
    assert request.node in items
    bad = [(item.nodeid, [k for k in conftest.KINDS if item.get_closest_marker(k)]) for item in items]
    bad = [b for b in bad if len(b[1]) != 1]
    assert not bad, bad[:10]


def test_no_test_module_imports_another():
    """Helpers shared by several modules live in tests/support/, shared fixtures in tests/conftest.py."""
    found = []
    for path in sorted(TESTS.glob("*.py")) + sorted((TESTS / "support").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [node.module + "." + a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.split(".")[:2][-1].startswith("test_") and n.startswith("tests.") for n in names):
                found.append("%s:%d" % (path.name, node.lineno))
    assert not found, found
