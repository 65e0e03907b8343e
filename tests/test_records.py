"""archdsl.records: the frozen-record base of the syntax tree, the diagnostics and the IR."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import typing
from pathlib import Path
from typing import ClassVar

import pytest

from archdsl import ir
from archdsl import tree as t
from archdsl.diagnostics import Location
from archdsl.records import FrozenError, Record

ROOT = Path(__file__).resolve().parent.parent


class Point(Record):
    x: int
    y: int = 0


class Tagged(Point):
    _keyword_only: ClassVar[frozenset[str]] = frozenset({"where"})
    _uncompared: ClassVar[frozenset[str]] = frozenset({"where"})

    where: str = "?"
    label: str = ""


class Required(Point):
    y: int  # redeclared without a default: now required


def test_fields_defaults_and_construction() -> None:
    assert Point._fields == ("x", "y")
    assert (Point(1).x, Point(1).y, Point(1, 2).y, Point(y=3, x=1).y) == (1, 0, 2, 3)
    assert Tagged._fields == ("x", "y", "where", "label") and Tagged._positional == ("x", "y", "label")
    tagged = Tagged(1, 2, "a", where="here")
    assert (tagged.x, tagged.y, tagged.label, tagged.where) == (1, 2, "a", "here")
    assert Required(1, 2).y == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Point(), "missing 1 required positional argument: 'x'"),
        (lambda: Point(1, 2, 3), "takes from 2 to 3 positional arguments but 4 were given"),
        (lambda: Point(1, z=2), "unexpected keyword argument 'z'"),
        (lambda: Point(1, x=2), "multiple values for argument 'x'"),
        (lambda: Tagged(1, 2, "a", "here"), "positional arguments"),  # `where` is keyword-only
        (lambda: Required(1), "missing 1 required positional argument: 'y'"),
    ],
)
def test_wrong_arguments_are_python_errors(make, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()


def test_frozen() -> None:
    point = Point(1)
    with pytest.raises(FrozenError, match="cannot assign to field 'x' of a Point"):
        point.x = 2
    with pytest.raises(FrozenError):
        point.z = 2
    with pytest.raises(FrozenError):
        del point.x
    assert isinstance(FrozenError("m"), AttributeError)  # as dataclasses' FrozenInstanceError


def test_equality_hash_and_repr_leave_out_uncompared_fields() -> None:
    a, b = Tagged(1, 2, "l", where="a"), Tagged(1, 2, "l", where="b")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Tagged(1, 3, "l") and Point(1, 2) != Tagged(1, 2)  # another class is never equal
    assert repr(a) == "Tagged(x=1, y=2, label='l')"
    assert Point(1) == Point(1, 0) and Point(1) != Point(2)
    assert (Point(1) == (1, 0)) is False


def test_each_class_compiles_its_own_constructor() -> None:
    class Base(Record):
        a: int

    class Child(Base):
        b: int = 5

    assert Base(1).a == 1  # compiles Base.__init__ first
    child = Child(1)  # must not reuse Base's
    assert (child.a, child.b) == (1, 5)
    assert Base.__init__ is not Child.__init__


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows one with a default"):

        class Bad(Record):
            a: int = 1
            b: int

    with pytest.raises(TypeError, match="may not start with '_'"):

        class Private(Record):
            _hidden: int


def test_classvar_annotations_are_not_fields_without_postponed_annotations() -> None:
    # This module uses `from __future__ import annotations`; a typing object must work too.
    namespace = {"__annotations__": {"x": int, "kind": typing.ClassVar[str]}, "kind": "k"}
    cls = type("Evaluated", (Record,), namespace)
    assert cls._fields == ("x",) and cls(3).x == 3


def test_copy_and_pickle_round_trip() -> None:
    node = t.Call(t.Name("Dense", loc=Location("f", 1, 2)), (t.Argument(t.Literal(8)),), loc=Location("f", 1, 1))
    for clone in (copy.copy(node), copy.deepcopy(node), pickle.loads(pickle.dumps(node))):
        assert clone == node and clone.loc == node.loc


def test_syntax_tree_and_ir_ignore_positions() -> None:
    assert t.Name("x", loc=Location("a", 1, 1)) == t.Name("x", loc=Location("b", 9, 9))
    first = ir.Tensor(0, ir.TensorType((4,)), "x", location=Location("a", 1, 1))
    assert first == ir.Tensor(0, ir.TensorType((4,)), "x", location=None)
    assert first != ir.Tensor(0, ir.TensorType((5,)), "x")


def test_checking_a_spec_defines_no_dataclass() -> None:
    """The check path's start-up cost: no class on it is built by dataclasses."""
    script = (
        "import dataclasses, sys\n"
        "from archdsl.api import check_file\n"
        "assert check_file('specs/resnet.arch').ok\n"
        "for name, module in sorted(sys.modules.items()):\n"
        "    if name.startswith('archdsl'):\n"
        "        for value in vars(module).values():\n"
        "            if dataclasses.is_dataclass(value) and value.__module__ == name:\n"
        "                print(name, value.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
