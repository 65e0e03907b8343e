"""Immutable records that cost nothing to define: the base of the syntax tree and of the
checker's own value types.

``@dataclass(frozen=True)`` writes five or six methods per class as source text and
compiles them when the module is imported: about 0.5 ms a class on a CI machine. The
syntax tree, the diagnostics and the layer catalogue have about forty such classes, and
every ``archdsl check`` paid for them before reading its file (a fifth of checking a
ResNet). A :class:`Record` gets the same behaviour from methods written once, here:

- fields are the class's annotations, base classes first, as with dataclasses; a value
  assigned in the class body is the field's default;
- the constructor takes fields by position or by keyword, except those named in
  ``_keyword_only``, which are keyword-only;
- instances are frozen: assigning or deleting an attribute raises :class:`FrozenError`;
- equality, hashing and ``repr`` use every field except those named in ``_uncompared``
  (source positions, so that two trees read from different layouts compare equal).

The graph IR is made of records too. Each class compiles its own ``__init__`` when its
first instance is made (one small function, not six), so a record is also cheaper to
construct than a frozen dataclass, which sets each field through ``object.__setattr__``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any, ClassVar

_MISSING = object()


class FrozenError(AttributeError):
    """Raised on an attempt to change a record."""


class Record:
    """Base of immutable records; see the module docstring."""

    _keyword_only: ClassVar[frozenset[str]] = frozenset()
    _uncompared: ClassVar[frozenset[str]] = frozenset()

    # Filled in by __init_subclass__ for each class.
    _fields: ClassVar[tuple[str, ...]] = ()
    _positional: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _compared: ClassVar[tuple[str, ...]] = ()
    _key: ClassVar[Callable[[dict[str, Any]], Any]] = staticmethod(lambda values: ())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, None] = {}
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if str(annotation).removeprefix("typing.").startswith("ClassVar"):
                    continue
                if name.startswith("_"):
                    raise TypeError(f"{cls.__name__}: a record's field names may not start with '_' ({name})")
                fields[name] = None
                value = klass.__dict__.get(name, _MISSING)
                if value is not _MISSING:
                    defaults[name] = value
                elif name in defaults:  # a subclass redeclared it without a default
                    del defaults[name]
        if "__init__" not in cls.__dict__:
            cls.__init__ = Record.__init__  # each class compiles its own on first use
        cls._fields = tuple(fields)
        cls._positional = tuple(f for f in fields if f not in cls._keyword_only)
        cls._defaults = defaults
        cls._compared = tuple(f for f in fields if f not in cls._uncompared)
        if cls._compared:  # the compared values, read from an instance's __dict__ in C
            cls._key = itemgetter(*cls._compared)  # type: ignore[assignment]
        seen_default = False
        for name in cls._positional:
            if name in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{cls.__name__}: field '{name}' without a default follows one with a default")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The first instance of each class compiles that class's own constructor (what
        # dataclasses do at import, for one method instead of six), then uses it.
        init = _compile_init(type(self))
        init(self, *args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenError(f"cannot assign to field '{name}' of a {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"cannot delete field '{name}' of a {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key(self.__dict__) == self._key(other.__dict__)

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, self._key(self.__dict__)))

    def __repr__(self) -> str:
        values = self.__dict__
        shown = ", ".join(f"{name}={values[name]!r}" for name in self._compared)
        return f"{type(self).__name__}({shown})"


def _compile_init(cls: type[Record]) -> Callable[..., None]:
    """Write, compile and install ``cls.__init__``. Its signature is the fields, with their
    defaults and the keyword-only ones after ``*``, so Python itself reports a missing or
    unexpected argument; its body stores the values as the instance's ``__dict__``."""
    namespace: dict[str, Any] = {"_set_dict": object.__setattr__}
    keyword_only = [name for name in cls._fields if name not in cls._positional]
    params = ["_self"]
    for name in cls._positional + (("*",) if keyword_only else ()) + tuple(keyword_only):
        if name in cls._defaults:
            namespace[f"_default_{name}"] = cls._defaults[name]
            name = f"{name}=_default_{name}"
        params.append(name)
    values = ", ".join(f"{name!r}: {name}" for name in cls._fields)
    source = f"def __init__({', '.join(params)}):\n    _set_dict(_self, '__dict__', {{{values}}})\n"
    exec(source, namespace)  # the text is made of the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__name__}.__init__"
    cls.__init__ = init
    return init
