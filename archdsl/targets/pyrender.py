"""Rendering Python source: safe literals, identifiers, and a layout that ``ruff format``
leaves unchanged.

Every value from a spec reaches generated code through :func:`literal`, which only ever
produces a Python literal (strings escaped, never raw text), and every name through
:class:`Namer`, which renames anything that would clash with a keyword, a builtin or a
name the generated code itself uses.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LINE_LENGTH = 88  # ruff's default, which is what a user running `ruff format` gets
INDENT = "    "


def string(value: str) -> str:
    """A Python string literal in ruff's preferred quotes, ASCII only, fully escaped."""
    quote = "'" if value.count('"') > value.count("'") else '"'
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return quote + "".join(out) + quote


def literal(value: Any) -> str:
    """A Python literal for a spec value (numbers, strings, booleans, None, tuples)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number")
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (tuple, list)):
        items = [literal(v) for v in value]
        if isinstance(value, list):
            return "[" + ", ".join(items) + "]"
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    raise TypeError(f"no literal for {type(value).__name__}")


def docstring(text: str, indent: str) -> list[str]:
    """Lines of a triple-quoted docstring; the text cannot close the quotes early."""
    safe = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    safe = "".join(ch if ch == "\n" or " " <= ch <= "~" or ord(ch) > 0xA0 and ch.isprintable() else " " for ch in safe)
    lines = [line.rstrip() for line in safe.strip().splitlines()] or [""]
    if lines[-1].endswith('"'):
        lines[-1] += " "
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out += [f"{indent}{line}" if line else "" for line in lines[1:]]
    out.append(f'{indent}"""')
    return out


RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


@dataclass
class Namer:
    """Maps spec names to Python identifiers, deterministically and without clashes."""

    taken: set[str] = field(default_factory=set)
    mapping: dict[str, str] = field(default_factory=dict)

    def reserve(self, names: Iterable[str]) -> None:
        self.taken.update(names)

    def name(self, spec_name: str) -> str:
        if spec_name in self.mapping:
            return self.mapping[spec_name]
        base = spec_name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec_name) else "_" + re.sub(r"\W", "_", spec_name)
        stem = base.lstrip("_")
        stem = stem if stem[:1].isalpha() else "v" + stem
        candidate = base
        n = 0
        while candidate in RESERVED or candidate in self.taken or candidate.startswith("__"):
            n += 1
            candidate = f"{base}_" if n == 1 else f"{stem}_{n}"
        self.taken.add(candidate)
        self.mapping[spec_name] = candidate
        return candidate

    def fresh(self, base: str, separator: str = "_") -> str:
        """A new identifier not used by any spec or generated name: ``base``, ``base_2``, ...
        (``base2`` with ``separator=""``, as for class names)."""
        candidate, n = base, 1
        while candidate in RESERVED or candidate in self.taken or keyword.iskeyword(candidate):
            n += 1
            candidate = f"{base}{separator}{n}"
        self.taken.add(candidate)
        return candidate


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def camel_case(name: str) -> str:
    parts = re.split(r"_+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Block"


# --- layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A call expression to lay out: ``func(arg, ...)``; args are Call or pre-rendered str."""

    func: str | Call  # a Call here is ``Layer(...)(x)``: construct, then apply
    args: tuple[Call | Brackets | str, ...]


@dataclass(frozen=True)
class Brackets:
    """A list or tuple display to lay out: ``[item, ...]``; items are Call, Brackets or str."""

    open: str
    items: tuple[Call | Brackets | str, ...]
    close: str


Expr = Call | Brackets | str


def flat(expr: Expr) -> str:
    if isinstance(expr, str):
        return expr
    if isinstance(expr, Brackets):
        items = [flat(i) for i in expr.items]
        if expr.open == "(" and len(items) == 1:
            return f"({items[0]},)"
        return expr.open + ", ".join(items) + expr.close
    return f"{flat(expr.func)}({', '.join(flat(a) for a in expr.args)})"


def _explode(expr: Expr, indent: str, head: str, tail: str) -> list[str]:
    """``head + expr + tail`` over several lines, each argument on its own line with a
    trailing comma (ruff keeps such "magic trailing comma" layouts as they are)."""
    text = head + flat(expr) + tail
    if len(indent + text) <= LINE_LENGTH or isinstance(expr, str):
        return [indent + text]
    if isinstance(expr, Brackets):
        if not expr.items:
            return [indent + text]
        lines = [f"{indent}{head}{expr.open}"]
        for item in expr.items:
            lines.extend(_explode(item, indent + INDENT, "", ","))
        lines.append(f"{indent}{expr.close}{tail}")
        return lines
    if isinstance(expr.func, Call):
        # Layer(...)(x): explode the constructor, keep the application on its closing line.
        return _explode(expr.func, indent, head, "(" + ", ".join(flat(a) for a in expr.args) + ")" + tail)
    if not expr.args:
        return [indent + text]
    lines = [f"{indent}{head}{expr.func}("]
    inner = indent + INDENT
    for arg in expr.args:
        lines.extend(_explode(arg, inner, "", ","))
    lines.append(f"{indent}){tail}")
    return lines


def statement(indent: str, prefix: str, expr: Expr, suffix: str = "", comment: str | None = None) -> list[str]:
    """One statement ``prefix + expr + suffix`` with an optional trailing comment.

    The comment stays at the end of the line when everything fits; otherwise it goes on its
    own line above, and a statement that is still too long is exploded. When the prefix is
    several targets (``a, b, c = ``) too long to leave room for the call, they go one per
    line in parentheses, as ruff puts them.
    """
    text = indent + prefix + flat(expr) + suffix
    lines: list[str] = []
    if len(text) <= LINE_LENGTH:
        if comment and len(text) + 4 + len(comment) <= LINE_LENGTH:
            return [f"{text}  # {comment}"]
        if comment:
            lines.append(f"{indent}# {comment}")
        lines.append(text)
        return lines
    head, targets = prefix, assignment_targets(prefix)
    if targets and len(indent + prefix + _call_head(expr)) > LINE_LENGTH:
        lines_targets = [f"{indent}("] + [f"{indent}{INDENT}{name}," for name in targets]
        head = ") = "
    else:
        lines_targets = []
    body = _explode(expr, indent, head, suffix)
    if comment:
        if len(body[-1]) + 4 + len(comment) <= LINE_LENGTH:
            body[-1] += f"  # {comment}"
        else:
            lines.append(f"{indent}# {comment}")
    return lines + lines_targets + body


def assignment_targets(prefix: str) -> list[str] | None:
    """``["a", "b"]`` for the prefix ``"a, b = "``; None for a single target or anything else."""
    if not prefix.endswith(" = ") or ", " not in prefix:
        return None
    names = prefix[: -len(" = ")].split(", ")
    return names if all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names) else None


def parenthesized_targets(indent: str, prefix: str, first_line: str) -> list[str] | None:
    """``(\n    a,\n    b,\n) = first_line``: several targets that leave no room on one line."""
    targets = assignment_targets(prefix)
    if targets is None:
        return None
    return [f"{indent}("] + [f"{indent}{INDENT}{name}," for name in targets] + [f"{indent}) = {first_line}"]


def _call_head(expr: Expr) -> str:
    """The text of an expression up to its first opening bracket (where it could be split)."""
    text = flat(expr)
    cut = min((i for i in (text.find("("), text.find("[")) if i >= 0), default=len(text) - 1)
    return text[: cut + 1]


def layout_tree(text: str) -> Expr:
    """A one-line Python expression as a layout tree, so that a call too long for one line can
    be exploded like the calls the generators build. Anything but a call stays text."""
    import ast

    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text

    def tree(n: ast.expr) -> Expr:
        segment = ast.get_source_segment(text, n) or ""
        if not isinstance(n, ast.Call) or any(isinstance(a, ast.Starred) for a in n.args):
            return segment
        args: list[Call | Brackets | str] = [tree(a) for a in n.args]
        for k in n.keywords:
            value = tree(k.value)
            name = f"{k.arg}=" if k.arg else "**"
            if isinstance(value, Call) and isinstance(value.func, str):
                args.append(Call(name + value.func, value.args))
            else:
                args.append(name + flat(value))
        return Call(ast.get_source_segment(text, n.func) or "", tuple(args))

    return tree(node)


def signature(indent: str, keyword_: str, name: str, params: list[str], suffix: str = ":") -> list[str]:
    """``def name(params):``, exploded one parameter per line when too long."""
    text = f"{indent}{keyword_} {name}({', '.join(params)}){suffix}"
    if len(text) <= LINE_LENGTH:
        return [text]
    return [f"{indent}{keyword_} {name}("] + [f"{indent}{INDENT}{p}," for p in params] + [f"{indent}){suffix}"]
