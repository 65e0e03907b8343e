"""Parse tables for :mod:`archdsl.lalr`, computed by Lark from ``grammar/archdsl.lark``.

Lark is the parser generator: it builds the basic lexer's terminal order and the LALR(1)
table. This module reads them off a Lark parser and writes them, with the tree-shaping
facts of every rule, as ``grammar/archdsl.tables.json``, which the checker loads instead
of importing Lark (importing Lark costs ~30 ms, a third of a small check). The file holds
the grammar text it was made from; a test regenerates it and compares.

Regenerate after editing the grammar::

    python -m archdsl.lalrgen
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from archdsl.resources import resource_dir

FORMAT = 1
TABLES_FILE = "archdsl.tables.json"


def tables_path() -> str:
    return os.path.join(resource_dir("grammar"), TABLES_FILE)


def _include(rule: Any) -> tuple[list[list[Any]], int]:
    """Which children of a reduction a tree keeps, as Lark shapes it with
    ``maybe_placeholders``: tokens whose terminal is filtered out (anonymous punctuation and
    keywords) are dropped, children made by ``_rules`` are spliced in, and a ``None`` stands
    for each ``[optional]`` part that is absent. Returns ``[index, splice, nones before]``
    per kept child, and the ``None``s after the last."""
    expansion = rule.expansion
    empty = rule.options.empty_indices
    if empty:
        flags = "".join("1" if b else "0" for b in empty)
        nones = [len(run) for run in flags.split("0")]
        assert len(nones) == len(expansion) + 1, (rule, nones)
    else:
        nones = [0] * (len(expansion) + 1)
    include: list[list[Any]] = []
    pending = 0
    for index, symbol in enumerate(expansion):
        pending += nones[index]
        if rule.options.keep_all_tokens or not (symbol.is_term and symbol.filter_out):
            splice = not symbol.is_term and symbol.name.startswith("_")
            include.append([index, splice, pending])
            pending = 0
    return include, pending + nones[len(expansion)]


def build_tables(grammar: str) -> dict[str, Any]:
    """The lexer's and parser's tables for ``grammar`` (Lark's LALR with its basic lexer)."""
    from lark import Lark
    from lark.lexer import PatternStr, UnlessCallback
    from lark.parsers.lalr_analysis import Shift

    lark = Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True)
    lexer = lark.parser.lexer
    scanner = lexer.scanner  # built on first use; it also sets lexer.callback
    keywords: dict[str, dict[str, str]] = {}
    for name, callback in sorted(lexer.callback.items()):
        assert isinstance(callback, UnlessCallback), (name, callback)
        for terminal in callback.scanner.terminals:
            assert isinstance(terminal.pattern, PatternStr) and not terminal.pattern.flags, terminal
            keywords.setdefault(name, {})[terminal.pattern.value] = terminal.name
    assert not lexer.g_regex_flags, "the runtime compiles the terminals without flags"

    rules = list(lark.rules)
    rule_index = {rule: index for index, rule in enumerate(rules)}
    table = lark.parser.parser.parser.parse_table
    # Lark numbers states in an order that depends on string hashing; number them
    # breadth-first from the start state instead, so the file is the same on every run.
    start = table.start_states["start"]
    order = [start]
    number = {start: 0}
    for state in order:
        for _symbol, (action, arg) in sorted(table.states[state].items()):
            if action is Shift and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    assert len(order) == len(table.states), "every state is reachable from the start"
    states: list[dict[str, int]] = []
    for state in order:
        actions: dict[str, int] = {}
        for symbol, (action, arg) in sorted(table.states[state].items()):
            actions[symbol] = number[arg] if action is Shift else ~rule_index[arg]
        states.append(actions)

    shaped = []
    for rule in rules:
        include, trailing = _include(rule)
        name = rule.alias or rule.options.template_source or rule.origin.name
        expand1 = bool(rule.options.expand1 and not rule.alias)
        if expand1 and any(splice for _, splice, _ in include):
            # The runtime finds a lone child's position among the unspliced children.
            assert any(not splice for _, splice, _ in include), f"{rule}: a ?rule of spliced children only"
        shaped.append([rule.origin.name, len(rule.expansion), name, expand1, include, trailing])

    return {
        "format": FORMAT,
        "grammar": grammar,
        "terminals": [[t.name, t.pattern.to_regexp()] for t in scanner.terminals],
        "keywords": keywords,
        "ignore": sorted(lexer.ignore_types),
        "newline": sorted(lexer.newline_types),
        "start_state": number[start],
        "end_state": number[table.end_states["start"]],
        "rules": shaped,
        "states": states,
    }


def render(tables: dict[str, Any]) -> str:
    """The file's text: one state or rule per line, so a grammar change diffs readably."""
    lines = ["{"]
    for key, value in tables.items():
        if key in ("rules", "states"):
            rows = ",\n".join("    " + json.dumps(row, separators=(",", ":")) for row in value)
            lines.append(f'  "{key}": [\n{rows}\n  ],')
        else:
            lines.append(f'  "{key}": {json.dumps(value)},')
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    with open(os.path.join(resource_dir("grammar"), "archdsl.lark"), encoding="utf-8") as handle:
        grammar = handle.read()
    text = render(build_tables(grammar))
    path = tables_path()
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    print(f"wrote {path} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
