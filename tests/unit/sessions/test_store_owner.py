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


def session_model_names(tree: ast.AST) -> set[str]:
    """The local names the module gives tq.sessions.models.Session."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tq.sessions.models":
            names |= {alias.asname or alias.name for alias in node.names if alias.name == "Session"}
    return names


def violations(source: str) -> list[str]:
    """Each use of the Session model class that reaches documents (a class attribute: a query
    field or model_validate_doc; the class passed to a call: get_collection, find, an outbox
    flush), each `get_collection("sessions")`, and each spelled lock key."""
    tree = ast.parse(source)
    names = session_model_names(tree)
    in_annotation = _annotation_nodes(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in names and id(node) not in in_annotation:
                found.append(f"{line}: Session.{node.attr}")
        elif isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(arg, ast.Name) and arg.id in names:
                    found.append(f"{line}: Session passed to a call")
                named = isinstance(arg, ast.Constant) and arg.value == "sessions"
                func = node.func
                if named and isinstance(func, ast.Attribute) and func.attr == "get_collection":
                    found.append(f"{line}: get_collection('sessions')")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and id(node) not in in_annotation:
            if any(isinstance(e, ast.Name) and e.id in names for e in node.elts):
                found.append(f"{line}: Session in a collection of models")
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
    ],
)
def test_the_check_sees_each_way_in(source: str) -> None:
    assert violations(source)


def test_annotations_and_construction_are_not_access() -> None:
    source = (
        "from tq.sessions.models import Session\n"
        "def f(s: Session, t: list[Session]) -> tuple[Session, int] | None:\n"
        "    x: Session = Session(title='t')\n"
        "    return x\n"
    )
    assert violations(source) == []
