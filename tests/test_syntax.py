"""Parser tests: every construct parses into the expected syntax tree."""

from __future__ import annotations

import json
import os
import random
import stat
from pathlib import Path

import pytest

from archdsl import lalrgen, syntax
from archdsl import tree as t
from archdsl.diagnostics import ArchError
from archdsl.syntax import parse
from tests.conftest import assert_parsers_agree


def body(src: str) -> tuple[t.Stmt, ...]:
    module = parse("model M {\n" + src + "\n}", "m.arch")
    return module.definitions[0].body


def expr(src: str) -> t.Expr:
    (stmt,) = body(f"v = {src}")
    assert isinstance(stmt, t.Assign)
    return stmt.value


def lit(v: object) -> t.Literal:
    return t.Literal(v)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("42", lit(42)),
        ("0.5", lit(0.5)),
        ("1e-3", lit(1e-3)),
        ("2.5E+2", lit(250.0)),
        (".5", lit(0.5)),
        ('"relu"', lit("relu")),
        ("'relu'", lit("relu")),
        (r'"a\"b\n"', lit('a"b\n')),
        ("True", lit(True)),
        ("False", lit(False)),
        ("None", lit(None)),
        ("(1, 2)", t.TupleExpr((lit(1), lit(2)))),
        ("(1,)", t.TupleExpr((lit(1),))),
        ("()", t.TupleExpr(())),
        ("[1, 2, 3,]", t.ListExpr((lit(1), lit(2), lit(3)))),
        ("(7)", lit(7)),
        ("a + b * c", t.BinOp("+", t.Name("a"), t.BinOp("*", t.Name("b"), t.Name("c")))),
        ("(a + b) * c", t.BinOp("*", t.BinOp("+", t.Name("a"), t.Name("b")), t.Name("c"))),
        ("n // 2", t.BinOp("//", t.Name("n"), lit(2))),
        ("n % 2", t.BinOp("%", t.Name("n"), lit(2))),
        ("2 ** i", t.BinOp("**", lit(2), t.Name("i"))),
        ("-2 ** 2", t.UnaryOp("-", t.BinOp("**", lit(2), lit(2)))),
        ("2 ** -1", t.BinOp("**", lit(2), t.UnaryOp("-", lit(1)))),
        ("a < b", t.BinOp("<", t.Name("a"), t.Name("b"))),
        ("a == b and not c", t.BinOp("and", t.BinOp("==", t.Name("a"), t.Name("b")), t.UnaryOp("not", t.Name("c")))),
        ("a or b and c", t.BinOp("or", t.Name("a"), t.BinOp("and", t.Name("b"), t.Name("c")))),
        ("x.shape[-1]", t.Index(t.Attribute(t.Name("x"), "shape"), t.UnaryOp("-", lit(1)))),
        (
            'Dense(64, activation="relu")',
            t.Call(t.Name("Dense"), (t.Argument(lit(64)), t.Argument(lit("relu"), "activation"))),
        ),
        (
            "x -> Flatten() -> Dense(10)",
            t.Chain(t.Name("x"), (t.Call(t.Name("Flatten"), ()), t.Call(t.Name("Dense"), (t.Argument(lit(10)),)))),
        ),
        (
            "(a, b) -> Add()",
            t.Chain(t.TupleExpr((t.Name("a"), t.Name("b"))), (t.Call(t.Name("Add"), ()),)),
        ),
        (
            "h -> (Dense(2), Dense(3))",
            t.Chain(
                t.Name("h"),
                (
                    t.TupleExpr(
                        (t.Call(t.Name("Dense"), (t.Argument(lit(2)),)), t.Call(t.Name("Dense"), (t.Argument(lit(3)),)))
                    ),
                ),
            ),
        ),
        ("x -> enc -> dec", t.Chain(t.Name("x"), (t.Name("enc"), t.Name("dec")))),
        ("lib.Block(3)", t.Call(t.Attribute(t.Name("lib"), "Block"), (t.Argument(lit(3)),))),
        (
            "TimeDistributed(Conv2D(32, 3))",
            t.Call(
                t.Name("TimeDistributed"),
                (t.Argument(t.Call(t.Name("Conv2D"), (t.Argument(lit(32)), t.Argument(lit(3))))),),
            ),
        ),
    ],
)
def test_expressions(src: str, expected: t.Expr) -> None:
    assert expr(src) == expected


def test_chain_continues_across_lines() -> None:
    value = expr("x\n  -> Dense(1)\n  -> Dense(2)")
    assert isinstance(value, t.Chain) and len(value.steps) == 2


def test_statements() -> None:
    stmts = body(
        """
        "Doc string."
        input x: (28, 28, 1)
        input tokens: int32 (T,)
        a, b = x -> LSTM(3, return_state=True)
        for i in range(3) { x = x -> Dense(4) }
        if n > 1 { x = x } elif n == 1 { x = x } else { x = x }
        output a, b
        """
    )
    assert stmts[0] == t.InputStmt("x", t.TupleExpr((lit(28), lit(28), lit(1))))
    assert stmts[1] == t.InputStmt("tokens", t.TupleExpr((t.Name("T"),)), "int32")
    assert isinstance(stmts[2], t.Assign) and stmts[2].targets == ("a", "b")
    assert isinstance(stmts[3], t.For) and stmts[3].var == "i"
    assert isinstance(stmts[4], t.If) and len(stmts[4].branches) == 2 and stmts[4].orelse is not None
    assert stmts[5] == t.OutputStmt((t.Name("a"), t.Name("b")))


def test_definitions_imports_docs_and_comments() -> None:
    module = parse(
        '# top comment\nimport "lib.arch"\nimport "other.arch" as other\n'
        'block b(f, k=3) { "Block doc." input x return x }  # trailing\n'
        "model M(n=1,) { input x: (n,) output x }\n",
        "m.arch",
    )
    assert module.imports == (t.Import("lib.arch"), t.Import("other.arch", "other"))
    block, model = module.definitions
    assert block.kind == "block" and block.doc == "Block doc." and [p.name for p in block.params] == ["f", "k"]
    assert block.params[1].default == lit(3)
    assert model.kind == "model" and model.params[0].default == lit(1)
    assert [c.text for c in module.comments] == ["# top comment", "# trailing"]
    assert module.comments[1].loc.line == 4


def test_positions_are_exact() -> None:
    module = parse("model M {\n  input x: (4,)\n  output x -> Dense(2)\n}\n", "m.arch")
    output = module.definitions[0].body[1]
    chain = output.values[0]
    call = chain.steps[0]
    assert (call.loc.line, call.loc.column, call.loc.end_line, call.loc.end_column) == (3, 15, 3, 23)
    assert module.definitions[0].name_loc.column == 7


def test_equality_ignores_positions() -> None:
    a = parse("model M { input x: (4,) output x }", "a.arch")
    b = parse("model M {\n\n   input x: (4,)\n output x\n}", "b.arch")
    assert a.definitions == b.definitions


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("model M { input x: (4,) output x -> Dense(2 }", "unexpected '}', expected"),
        ("model M { input x: (4,)", "unexpected end of file"),
        ("model { }", "unexpected '{', expected a name"),
        ("model M { x = }", "unexpected '}', expected an expression"),
        ("model M { input x: (4,); output x }", "unexpected character ';'"),
        ('model M { s = "abc }', "unterminated string"),
        (r'model M { s = "\q" }', "unknown escape sequence '\\q'"),
        ("class M { }", "unexpected name 'class'"),
        ("model M { input = 3 }", "unexpected '=', expected a name"),
        ("model M { if a = 1 { } }", "unexpected '='"),
        ("model M { x = 1 @ 2 }", "unexpected character '@'"),
    ],
)
def test_syntax_errors(src: str, message: str) -> None:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    diagnostic = info.value.diagnostic
    assert message in diagnostic.message
    assert diagnostic.location is not None and diagnostic.location.line >= 1 and diagnostic.location.column >= 1
    for internal in ("__ANON", "RPAR", "LBRACE", "NAME", "$END", "Token"):
        assert internal not in diagnostic.message


@pytest.mark.parametrize(
    ("src", "message", "hint"),
    [
        # a keyword glued to a name is one name, never the keyword and a name
        ("modelM { input x: (4,) output x }", "unexpected name 'modelM'", None),
        ("model M { input x: (4,) outputx }", "unexpected '}', expected ',' or '='", None),
        # keywords and dtype names are reserved everywhere, not only where they could start a statement
        ("model M { input x: (4,) y = (4,) / output(x) output x }", "unexpected 'output'", None),
        ("model M { input x: (4,) int8 = x output int8 }", "unexpected 'int8'", "'int8' is a dtype name"),
        ("block b(bool=1) { input x return x }", "unexpected 'bool', expected", "'bool' is a dtype name"),
        ("model M(input=3) { input x: (4,) output x }", "unexpected 'input'", "'input' is a keyword"),
    ],
)
def test_reserved_words(src: str, message: str, hint: str | None) -> None:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    diagnostic = info.value.diagnostic
    assert message in diagnostic.message
    if hint is not None:
        assert diagnostic.hint is not None and hint in diagnostic.hint


@pytest.mark.parametrize(
    ("src", "message", "hint"),
    [
        # Inside a call, only what can follow there: Lark's own list (from an LALR state that
        # several contexts share) would also name statements and '}'.
        (
            'model M {\n  input x: (4,)\n  output x -> Dense(3 "a")\n}',
            "unexpected string \"a\", expected ')' or ','",
            "is a ',' missing",
        ),
        ("model M {\n  input x: (4,)\n  output x -> [1, 2 3]\n}", "unexpected number 3, expected ',' or ']'", None),
        ("model M {\n  input x (4,)\n  output x\n}", "unexpected '('", "write the shape after a ':'"),
        (
            "model M {\n  input x: (4,)\n  y = x ->\n  output y\n}",
            "unexpected 'output', expected an expression",
            "'output' starts a new statement here: is the expression before it unfinished?",
        ),
    ],
)
def test_what_is_expected_is_what_could_come_next(src: str, message: str, hint: str | None) -> None:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    diagnostic = info.value.diagnostic
    assert diagnostic.message == message or diagnostic.message.startswith(message), diagnostic.message
    assert "statement" not in diagnostic.message or "input x (4,)" in src
    assert diagnostic.hint == hint or (hint is not None and diagnostic.hint is not None and hint in diagnostic.hint)


def test_dtype_names_still_type_inputs_and_keyword_prefixes_are_names() -> None:
    module = parse("model M { input t: int32 (5,) modelx = t output modelx }", "m.arch")
    first, second, _ = module.definitions[0].body
    assert isinstance(first, t.InputStmt) and first.dtype == "int32"
    assert isinstance(second, t.Assign) and second.targets == ("modelx",)


def test_comments_come_from_the_parse_itself() -> None:
    module = parse('model M {\n  s = "# not a comment"  # one\n# two\n  output s\n}\n', "m.arch")
    assert [(c.text, c.loc.line, c.loc.column, c.loc.end_column) for c in module.comments] == [
        ("# one", 2, 26, 31),
        ("# two", 3, 1, 6),
    ]
    again = parse("model M { input x: (1,) output x }", "n.arch")
    assert again.comments == ()  # nothing left over from the previous parse
    with pytest.raises(ArchError):
        parse("# before the error\nmodel M {", "e.arch")
    assert parse("model N { input x: (1,) output x }  # after", "o.arch").comments[0].text == "# after"


# --- the parser cache ----------------------------------------------------------------------


def test_the_parser_cache_is_a_private_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = syntax.cache_dir()
    assert path == str(tmp_path / "archdsl")
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


@pytest.mark.parametrize("kind", ["world-writable", "symlink", "file", "unwritable parent"])
def test_an_unsafe_cache_directory_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    target = tmp_path / "archdsl"
    if kind == "world-writable":
        target.mkdir()
        target.chmod(0o777)
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "file":
        target.write_text("not a directory")
    else:
        if os.getuid() == 0:
            monkeypatch.setattr(os, "makedirs", _refuse)  # root may write anywhere
        else:
            tmp_path.chmod(0o500)
    try:
        assert syntax.cache_dir() is None
    finally:
        tmp_path.chmod(0o700)


def _refuse(*args: object, **kwargs: object) -> None:
    raise PermissionError("read-only")


def test_parsing_works_without_a_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syntax, "cache_dir", lambda: None)
    syntax.parser.cache_clear()
    try:
        module = syntax.parse_with_lark("model M { input x: (1,) output x }  # c", "m.arch")
        assert module.comments[0].text == "# c"
    finally:
        syntax.parser.cache_clear()


# --- several syntax errors in one run ------------------------------------------------------


def _all_syntax_errors(src: str) -> list[tuple[int, str]]:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    return [(d.location.line, d.message) for d in info.value.diagnostics]


def test_each_broken_definition_reports_its_own_error() -> None:
    src = (
        "model A {\n  input x: (4,)\n  output x -> Dense(2\n}\n"  # 1-4: a missing ')'
        "model B {\n  input x: (4,)\n  output x\n}\n"  # 5-8: fine
        "block c(n) {\n  input x\n  return x -> Dense(n);\n}\n"  # 9-12: a ';'
        "model D {\n  input x: (4,)\n  output x\n"  # 13-15: never closed, at the end of the file
    )
    assert _all_syntax_errors(src) == [
        (4, "unexpected '}', expected ')' or ','"),
        (11, "unexpected character ';'"),
        (
            15,
            "unexpected end of file, expected a statement (input, output, return, for, if, or name = ...), ',' or '}'",
        ),
    ]


def test_an_unclosed_definition_is_one_error_at_the_next_one() -> None:
    src = "model A {\n  input x: (4,)\n  output x\n\nmodel B {\n  input x: (4,)\n  output x -> Dense(2\n}\n"
    errors = _all_syntax_errors(src)
    assert [line for line, _ in errors] == [5, 8]
    assert errors[0][1].startswith("unexpected 'model'")


def test_syntax_errors_are_capped_and_parsing_them_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    src = "".join(f"model M{i} {{\n  input x: (4,);\n  output x\n}}\n" for i in range(500))
    lark = syntax.parser()
    parsed: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(lark, name)

        def parse(self, text: str) -> object:
            parsed.append(len(text.lstrip("\n")))  # the padding only keeps line numbers
            return lark.parse(text)

    monkeypatch.setattr(syntax, "parser", lambda: Counting())
    errors = _all_syntax_errors(src)
    assert len(errors) == syntax.MAX_SYNTAX_ERRORS
    assert sum(parsed) <= 2 * len(src)


def test_an_imported_file_reports_all_its_syntax_errors(tmp_path: Path) -> None:
    (tmp_path / "lib.arch").write_text(
        "block a(n) {\n  input x\n  return x -> Dense(n;\n}\nblock b {\n  input x return x;\n}\n"
    )
    (tmp_path / "main.arch").write_text('import "lib.arch"\nmodel M {\n  input x: (4,)\n  output x\n}\n')
    from archdsl.api import check_file

    errors = [(d.location.file, d.location.line) for d in check_file(tmp_path / "main.arch").reporter.errors]
    assert errors == [(str(tmp_path / "lib.arch"), 3), (str(tmp_path / "lib.arch"), 6)]


@pytest.mark.parametrize(
    ("src", "opened_at", "hint"),
    [
        # the error is a line below the real mistake; the note points at the open bracket
        ("model M {\n  input x: (3,\n  output x\n}\n", (2, 12), "is a ')' missing?"),
        ("model M {\n  input x: (4,)\n  output x -> Dense(2\n}\n", (3, 20), "is a ')' missing?"),
        ("model M {\n  input x: (4,)\n  y = [1, 2\n  output x\n}\n", (3, 7), "is a ']' missing?"),
        # brackets inside strings and comments do not count
        ('model M {\n  input x: (4,)  # (\n  s = ")" -> Dense(2, name="("\n  output x\n}\n', (3, 19), "')'"),
    ],
)
def test_an_unclosed_bracket_on_an_earlier_line_is_named(src: str, opened_at: tuple[int, int], hint: str) -> None:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    diagnostic = info.value.diagnostic
    assert diagnostic.hint is not None and hint in diagnostic.hint
    (note,) = diagnostic.notes
    assert "not closed" in note.message
    assert note.location is not None and (note.location.line, note.location.column) == opened_at


@pytest.mark.parametrize(
    "src",
    [
        "model M {\n  input x: (4,)\n  output x -> Dense(2 3)\n}\n",  # same line: the ',' hint stays
        "model M {\n  input x: (4,)\n  output x\n",  # an unclosed '{' only
        "model M {\n  input x: (4,)\n  y = (x)\n  output x -> -> Dense(2)\n}\n",  # brackets all closed
    ],
)
def test_no_bracket_note_where_no_bracket_is_open_on_an_earlier_line(src: str) -> None:
    with pytest.raises(ArchError) as info:
        parse(src, "m.arch")
    assert info.value.diagnostic.notes == ()


# --- archdsl's own parse tables and Lark agree -----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
ARCH_FILES = sorted([*(ROOT / "specs").glob("*.arch"), *(ROOT / "tests").rglob("*.arch")])


@pytest.mark.parametrize("path", ARCH_FILES, ids=[str(p.relative_to(ROOT)) for p in ARCH_FILES])
def test_every_arch_file_parses_to_the_same_tree_as_with_lark(path: Path) -> None:
    assert_parsers_agree(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only\n# comments",
        'model M {\r\n  input x: (4,)\r\n  # é ü\r\n  output x -> Dense(3, name="ñ")\r\n}\r\n',
        '\n\nmodel M { "doc\n string" }',
        "model M {\tinput x: (4,)\toutput x}   # trailing",
        "model M { input x: (4,) output x ->",
        "model M { s = 'a\\qb' }",
    ],
    ids=["empty", "comments only", "crlf and non-ascii", "doc string across lines", "tabs", "eof", "bad escape"],
)
def test_edge_texts_parse_alike(text: str) -> None:
    assert_parsers_agree(text)


def test_the_committed_tables_are_those_lark_makes_from_the_grammar() -> None:
    """After editing grammar/archdsl.lark, run `python -m archdsl.lalrgen` (with the Lark
    that constraints.txt pins)."""
    grammar = (ROOT / "grammar" / "archdsl.lark").read_text(encoding="utf-8")
    committed = (ROOT / "grammar" / lalrgen.TABLES_FILE).read_text(encoding="utf-8")
    assert committed == lalrgen.render(lalrgen.build_tables(grammar))


def test_tables_made_from_another_grammar_text_are_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads((ROOT / "grammar" / lalrgen.TABLES_FILE).read_text(encoding="utf-8"))
    good_states = data["states"]
    data["grammar"] += "// edited\n"
    data["states"] = [{} for _ in data["states"]]  # tables that would reject everything
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(data))
    monkeypatch.setattr(lalrgen, "tables_path", lambda: str(stale))
    syntax.tables.cache_clear()
    try:
        rebuilt = syntax.tables()
        assert rebuilt.states == good_states and rebuilt.grammar != data["grammar"]
        tokens, _ = rebuilt.tokens("model M { input x: (1,) output x }", "COMMENT")
        assert rebuilt.parse(tokens, syntax._Builder("m.arch").build)[0].name == "M"
    finally:
        syntax.tables.cache_clear()


def test_every_rule_has_a_builder_method_or_never_makes_a_tree() -> None:
    for origin, _, name, expand1, include, trailing in syntax.tables().rules:
        always_its_one_child = (
            expand1 and len(include) == 1 and not include[0][1] and not include[0][2] and not trailing
        )
        assert name.startswith("_") or always_its_one_child or hasattr(syntax._Builder, name), (origin, name)


# Sample text for each named terminal, for sentences made from the grammar.
SAMPLES = {
    "NAME": ["x", "Dense", "h_2", "_a"],
    "INT": ["0", "3", "128"],
    "FLOAT": ["0.5", "1e-3", ".25", "2."],
    "STRING": ['"relu"', "'same'", '"a\\"b"'],
    "DTYPE": ["int32", "float16", "bool"],
    "COMPARE": ["==", "!=", "<", "<=", ">", ">="],
    "ADD_OP": ["+", "-"],
    "MUL_OP": ["*", "/", "//", "%"],
}


def random_sentence(rng: random.Random, lark: object, used: set, symbol: str = "start", depth: int = 0) -> list[str]:
    """A random sentence of the grammar, derived rule by rule (the shortest alternatives
    once deep), with comments and line breaks strewn between tokens; ``used`` collects the
    rules it took."""
    rules = [r for r in lark.rules if r.origin.name == symbol]
    if depth > 8:
        rules = sorted(rules, key=lambda r: len(r.expansion))[:2]
    rule = rng.choice(rules)
    used.add(rule)
    words: list[str] = []
    for sym in rule.expansion:
        if sym.is_term:
            pattern = lark.get_terminal(sym.name).pattern
            words.append(pattern.value if pattern.type == "str" else rng.choice(SAMPLES[sym.name]))
            if rng.random() < 0.05:
                words.append(rng.choice(["\n", "# note\n", "\n\n  "]))
        else:
            words.extend(random_sentence(rng, lark, used, sym.name, depth + 1))
    return words


def test_random_sentences_of_the_grammar_parse_alike() -> None:
    """Sentences drawn from every rule of the grammar: the same trees, or the same errors
    (a sentence may still be refused after parsing, as chained comparisons are)."""
    lark = syntax.parser()
    rng = random.Random(20261204)
    used: set = set()
    wrappers = {"start": "{}", "stmt": "model M {{ {} }}", "expr": "model M {{ v = {} }}"}
    for _ in range(300):
        for symbol, wrapper in wrappers.items():
            assert_parsers_agree(wrapper.format(" ".join(random_sentence(rng, lark, used, symbol))))
    assert used == set(lark.rules), sorted(str(rule) for rule in set(lark.rules) - used)
