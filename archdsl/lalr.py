"""A small LALR(1) runtime for the tables that :mod:`archdsl.lalrgen` reads off Lark.

It lexes and parses as Lark's basic lexer and LALR parser do, and shapes the tree as Lark
does with ``propagate_positions`` and ``maybe_placeholders`` (tokens filtered out,
``_rules`` spliced, ``?rules`` with one child replaced by it, ``None`` for an absent
``[optional]``), but instead of building Lark trees it hands each reduction's children and
position straight to a builder method named after the rule's alias. It knows nothing of
errors: on input that does not lex or parse it raises :class:`Rejected`, and the caller
asks Lark itself, which explains the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any


class Rejected(Exception):
    """The input does not lex or parse; Lark will say why."""


class Token:
    """A token: its terminal's name, its text, and where it lies (lines and columns count
    from 1, the end is exclusive), as Lark's tokens carry them."""

    __slots__ = ("type", "value", "line", "column", "end_line", "end_column")

    def __init__(self, type_: str, value: str, line: int, column: int, end_line: int, end_column: int) -> None:
        self.type = type_
        self.value = value
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"


class Meta:
    """Where a tree's text lies: from its first token to its last (``empty`` when it holds
    none, as an empty file's item list)."""

    __slots__ = ("empty", "line", "column", "end_line", "end_column")

    def __init__(self, first: Any, last: Any) -> None:
        self.empty = first is None
        if first is not None:
            self.line = first.line
            self.column = first.column
            self.end_line = last.end_line
            self.end_column = last.end_column


EMPTY = Meta(None, None)


class Tables:
    """A grammar's terminals and LALR table, as :func:`archdsl.lalrgen.build_tables` made
    them."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.grammar: str = data["grammar"]
        self.scanner = re.compile("|".join(f"(?P<{name}>{regexp})" for name, regexp in data["terminals"]))
        self.keywords: dict[str, dict[str, str]] = data["keywords"]
        self.ignore = frozenset(data["ignore"])
        self.newline = frozenset(data["newline"])
        self.start_state: int = data["start_state"]
        self.end_state: int = data["end_state"]
        self.rules = [tuple(rule) for rule in data["rules"]]
        self.states: list[dict[str, int]] = data["states"]

    @classmethod
    def from_json(cls, text: str) -> Tables:
        return cls(json.loads(text))

    def tokens(self, text: str, kept: str) -> tuple[list[Token], list[Token]]:
        """The tokens of ``text``, and apart from them those of the ignored terminal
        ``kept`` (comments)."""
        tokens: list[Token] = []
        extra: list[Token] = []
        ignore, newline, keywords = self.ignore, self.newline, self.keywords
        pos = 0
        line = 1
        line_start = 0
        for match in self.scanner.finditer(text):
            start = match.start()
            if start != pos:  # characters that no terminal matches
                raise Rejected
            kind = match.lastgroup
            value = match.group()
            pos = match.end()
            column = start - line_start + 1
            end_line = line
            if kind in newline and "\n" in value:
                end_line = line + value.count("\n")
                line_start = start + value.rindex("\n") + 1
            token = Token(kind, value, line, column, end_line, pos - line_start + 1)
            line = end_line
            if kind in ignore:
                if kind == kept:
                    extra.append(token)
                continue
            if kind in keywords:
                token.type = keywords[kind].get(value, kind)
            tokens.append(token)
        if pos != len(text):
            raise Rejected
        return tokens, extra

    def parse(self, tokens: list[Token], build: Callable[[str, Meta, list], Any]) -> Any:
        """Parse ``tokens``; ``build(name, meta, children)`` makes the value of each tree."""
        states, rules, end_state = self.states, self.rules, self.end_state
        state_stack = [self.start_state]
        # Each value is paired with its position: a Token, a Meta, or None for no text.
        values: list[Any] = []
        metas: list[Any] = []
        end = Token("$END", "", 0, 0, 0, 0)
        for token in (*tokens, end):
            while True:
                action = states[state_stack[-1]].get(token.type)
                if action is None:
                    raise Rejected
                if action >= 0:
                    if token is end:
                        raise Rejected
                    state_stack.append(action)
                    values.append(token)
                    metas.append(token)
                    break
                origin, size, name, expand1, include, trailing = rules[~action]
                if size:
                    children = values[-size:]
                    child_metas = metas[-size:]
                    del values[-size:], metas[-size:], state_stack[-size:]
                else:
                    children, child_metas = [], []
                kept: list[Any] = []
                for index, splice, nones in include:
                    if nones:
                        kept.extend([None] * nones)
                    if splice:
                        kept.extend(children[index])
                    else:
                        kept.append(children[index])
                if trailing:
                    kept.extend([None] * trailing)
                if expand1 and len(kept) == 1:  # a ?rule with one child is that child
                    value = kept[0]
                    meta = None  # a None placeholder has no position
                    for index, splice, _ in include:
                        if not splice and children[index] is value:
                            meta = child_metas[index]
                else:
                    meta = _span(child_metas)
                    if name[0] == "_":
                        value = kept  # a _rule's children, which its parent splices into its own
                    else:
                        value = build(name, meta, kept)
                state_stack.append(states[state_stack[-1]][origin])
                values.append(value)
                metas.append(meta)
                if token is end and state_stack[-1] == end_state:
                    return values[-1]


def _span(metas: list[Any]) -> Meta:
    """A tree's position: from the first child that has one to the last."""
    first = last = None
    for meta in metas:
        if meta is not None and meta is not EMPTY:
            first = meta
            break
    if first is None:
        return EMPTY
    for meta in reversed(metas):
        if meta is not None and meta is not EMPTY:
            last = meta
            break
    return Meta(first, last)
