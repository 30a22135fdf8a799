"""The session document has one owner, tq/sessions/store.py: no other module of tq reaches the
`sessions` collection or spells the session's lock key. Read from the source, so a new module
that queries sessions on its own fails here before it ships."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OWNER = "tq/sessions/store.py"
# Where the model class may be passed around without reading or writing documents: its own
# definition; the app's list of models whose indexes are created at start-up; the catalogue of
# query shapes (declarations only).
ALLOWED = {OWNER, "tq/sessions/models.py", "tq/app.py", "tq/query_catalogue.py"}


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (where naming the class touches nothing)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        annotations: list[ast.AST | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    annotations.append(arg.annotation)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:
                inside.update(id(n) for n in ast.walk(annotation))
    return inside


def session_model_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The local names the module gives tq.sessions.models.Session, and the names it gives the
    module tq.sessions.models itself (`models.Session` reaches the class too)."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tq.sessions.models":
            names |= {a.asname or a.name for a in node.names if a.name == "Session"}
        elif isinstance(node, ast.ImportFrom) and node.module == "tq.sessions":
            modules |= {
                alias.asname or alias.name for alias in node.names if alias.name == "models"
            }
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tq.sessions.models" and alias.asname:
                    modules.add(alias.asname)
    return names, modules


def _database_like(node: ast.AST) -> bool:
    """`db`, `database`, `self.db`, `client[name]`: what a collection is taken from by name."""
    if isinstance(node, ast.Subscript):
        return True
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "db" in name.lower() or "database" in name.lower()


def _constant(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _is_lock_key(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and str(node.value).startswith("session:")


def violations(source: str) -> list[str]:
    """Each use of the Session model class that reaches documents (a class attribute: a query
    field or model_validate_doc; the class passed to a call: get_collection, find, an outbox
    flush), each `get_collection("sessions")`, and each spelled lock key."""
    tree = ast.parse(source)
    names, modules = session_model_names(tree)
    in_annotation = _annotation_nodes(tree)

    def is_model(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in names
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "Session"
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        )

    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if id(node) in in_annotation:
            continue
        if isinstance(node, ast.Attribute) and is_model(node.value):
            found.append(f"{line}: Session.{node.attr}")
        elif isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if is_model(arg):
                    found.append(f"{line}: Session passed to a call")
                named = isinstance(arg, ast.Constant) and arg.value == "sessions"
                func = node.func
                if named and isinstance(func, ast.Attribute) and func.attr == "get_collection":
                    found.append(f"{line}: get_collection('sessions')")
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "format"
                and _is_lock_key(func.value)
            ):
                found.append(f"{line}: a session lock key spelled out")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if any(is_model(e) for e in node.elts):
                found.append(f"{line}: Session in a collection of models")
        elif isinstance(node, ast.Subscript) and _database_like(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value == "sessions":
                found.append(f"{line}: the sessions collection by name")
        elif isinstance(node, ast.Attribute) and node.attr == "sessions":
            if _database_like(node.value):
                found.append(f"{line}: the sessions collection by name")
        elif isinstance(node, ast.Dict):
            pairs = zip(node.keys, node.values, strict=True)
            if any(_constant(k) == "from" and _constant(v) == "sessions" for k, v in pairs):
                found.append(f"{line}: $lookup from sessions")
        elif isinstance(node, ast.BinOp) and _is_lock_key(node.left):
            found.append(f"{line}: a session lock key spelled out")
        elif isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and str(head.value).startswith("session:"):
                found.append(f"{line}: a session lock key spelled out")
    return found


def test_only_the_store_touches_the_sessions_collection() -> None:
    found = {}
    for path in sorted((ROOT / "tq").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED:
            continue
        if hits := violations(path.read_text()):
            found[relative] = hits
    assert found == {}, f"reach sessions through {OWNER} instead: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "from tq.sessions.models import Session\nx = engine.get_collection(Session)\n",
        "from tq.sessions.models import Session\ns = Session.model_validate_doc(doc)\n",
        "from tq.sessions.models import Session as S\nawait engine.find_one(S, S.id == oid)\n",
        "x = db.get_collection('sessions')\n",
        "key = f'session:{oid}'\n",
        "from tq.sessions.models import Session\nMODELS = (Session, Note)\n",
        "from tq.sessions import models\nx = engine.get_collection(models.Session)\n",
        "import tq.sessions.models as m\ns = m.Session.model_validate_doc(doc)\n",
        "x = client[name]['sessions'].find({})\n",
        "x = self.db.sessions.find({})\n",
        "pipeline = [{'$lookup': {'from': 'sessions', 'as': 's'}}]\n",
        "key = 'session:' + str(oid)\n",
        "key = 'session:{}'.format(oid)\n",
    ],
)
def test_the_check_sees_each_way_in(source: str) -> None:
    assert violations(source)


def test_annotations_and_construction_are_not_access() -> None:
    source = (
        "from tq.sessions.models import Session\n"
        "def f(s: Session, t: list[Session]) -> tuple[Session, int] | None:\n"
        "    x: Session = Session(title='t')\n"
        "    totals['sessions'] += 1\n"
        "    return x\n"
    )
    assert violations(source) == []
