"""Immutable records that cost next to nothing to define: the syntax tree, the diagnostics,
the layer catalogue and the graph IR are made of them.

Why not ``@dataclass(frozen=True)``: a dataclass writes five or six methods per class as
source text and compiles them when its module is imported, about 0.5 ms a class on a CI
machine. With some fifty such classes, every ``archdsl check`` spent a quarter of its time
defining classes before reading its file. A :class:`Record` behaves the same way with
methods written once, here:

- fields are the class's annotations, base classes first, as with dataclasses; a value
  assigned in the class body is the field's default;
- the constructor takes fields by position or by keyword, except those named in
  ``_keyword_only``, which are keyword-only. Each class compiles its own ``__init__`` when
  its first instance is made (one small function, not six), so wrong arguments are
  reported by Python itself, as for any function;
- instances are frozen: assigning or deleting an attribute raises :class:`FrozenError`;
- equality, hashing and ``repr`` use every field except those named in ``_uncompared``
  (source positions, so that two trees read from different layouts compare equal); a
  record keeps its hash once computed, as records are memo keys in layer inference;
- fields are ``__slots__``: a 100k-layer graph holds a few hundred thousand records, and
  slots take less than half the memory of a per-instance ``__dict__``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar


class FrozenError(AttributeError):
    """Raised on an attempt to change a record."""


def _is_classvar(annotation: object) -> bool:
    return str(annotation).removeprefix("typing.").startswith("ClassVar")


def _no_key(record: object) -> tuple[()]:
    return ()


def _rebuild(cls: type[Record], values: tuple[Any, ...]) -> Record:
    return cls(**dict(zip(cls._fields, values, strict=True)))


def _first_init(self: Record, *args: Any, **kwargs: Any) -> None:
    """The first instance of each class compiles that class's own constructor (what
    dataclasses do at import, for one method instead of six), then uses it."""
    _compile_init(type(self))(self, *args, **kwargs)


def _compile_init(cls: type[Record]) -> Callable[..., None]:
    """Write, compile and install ``cls.__init__``. Its signature is the fields, with their
    defaults and the keyword-only ones after ``*``; its body sets each slot through the
    slot's own descriptor (``object.__setattr__`` would reach the frozen ``__setattr__``)."""
    namespace: dict[str, Any] = {}
    keyword_only = tuple(name for name in cls._fields if name not in cls._positional)
    params = ["_self"]
    for name in cls._positional + (("*",) if keyword_only else ()) + keyword_only:
        if name in cls._defaults:
            namespace[f"_default_{name}"] = cls._defaults[name]
            name = f"{name}=_default_{name}"
        params.append(name)
    lines = [f"def __init__({', '.join(params)}):"]
    for name in cls._fields:
        namespace[f"_set_{name}"] = getattr(cls, name).__set__  # the slot's member descriptor
        lines.append(f"    _set_{name}(_self, {name})")
    if not cls._fields:
        lines.append("    pass")
    exec("\n".join(lines), namespace)  # the text is made of the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__name__}.__init__"
    cls.__init__ = init
    return init


class _RecordMeta(type):
    """Turns a class body's annotations into slots and its field defaults into a table
    (a slot and a class attribute of the same name cannot coexist)."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> _RecordMeta:
        inherited: dict[str, None] = {}
        defaults: dict[str, Any] = {}
        for base in reversed(bases):
            for field in getattr(base, "_fields", ()):
                inherited[field] = None
            defaults.update(getattr(base, "_defaults", {}))
        own = [n for n, a in namespace.get("__annotations__", {}).items() if not _is_classvar(a)]
        for field in own:
            if field.startswith("_"):
                raise TypeError(f"{name}: a record's field names may not start with '_' ({field})")
            if field in namespace:
                defaults[field] = namespace.pop(field)
            else:
                defaults.pop(field, None)  # redeclared without a default: now required
        namespace["__slots__"] = tuple(f for f in own if f not in inherited)
        if not bases:  # Record itself: where a record keeps its hash once computed
            namespace["__slots__"] = ("_hash",)
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        fields = tuple({**inherited, **dict.fromkeys(own)})
        cls._fields = fields
        cls._defaults = defaults
        cls._positional = tuple(f for f in fields if f not in cls._keyword_only)
        cls._compared = tuple(f for f in fields if f not in cls._uncompared)
        cls._key = attrgetter(*cls._compared) if cls._compared else _no_key
        if "__init__" not in namespace:
            cls.__init__ = _first_init  # each class compiles its own on first use
        seen_default = False
        for field in cls._positional:
            if field in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{name}: field '{field}' without a default follows one with a default")
        return cls


class Record(metaclass=_RecordMeta):
    """Base of immutable records; see the module docstring."""

    _keyword_only: ClassVar[frozenset[str]] = frozenset()
    _uncompared: ClassVar[frozenset[str]] = frozenset()

    # Set by the metaclass for each class.
    _fields: ClassVar[tuple[str, ...]]
    _positional: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, Any]]
    _compared: ClassVar[tuple[str, ...]]
    _key: ClassVar[Callable[[Any], Any]]

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenError(f"cannot assign to field '{name}' of a {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field '{name}' of a {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key(self) == self._key(other)

    def __hash__(self) -> int:
        # Records are hashed over and over as memo keys; frozen, they can keep the value.
        try:
            return self._hash
        except AttributeError:
            value = hash((self.__class__.__name__, self._key(self)))
            _set_hash(self, value)
            return value

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._compared)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Copy and pickle through the constructor (slots of a frozen class cannot be set
        the default way)."""
        return (_rebuild, (type(self), tuple(getattr(self, name) for name in self._fields)))


_set_hash = Record._hash.__set__  # type: ignore[attr-defined]
