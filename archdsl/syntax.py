"""Source text to syntax tree.

Valid text is parsed by :mod:`archdsl.lalr` with the tables that Lark computed from the
grammar (``grammar/archdsl.tables.json``), which spares every check Lark's import. Text
that does not parse goes to Lark itself, whose exceptions become friendly diagnostics
here; the same builder makes the tree from either parser, and tests hold the two to the
same trees.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from archdsl import lalr
from archdsl import tree as t
from archdsl.diagnostics import ArchError, Diagnostic, Location, Note, error
from archdsl.resources import resource_dir

if TYPE_CHECKING:
    from lark import Lark, Token
    from lark.exceptions import UnexpectedInput, UnexpectedToken

# Friendly names for terminals, used in "expected ..." messages.
TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "DTYPE": "a dtype such as int32",
    "COMPARE": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "DOT": "'.'",
    "MORETHAN": "'>'",
    "ARROW": "'->'",
    "POW": "'**'",
    "$END": "the end of the file",
}
# Binding powers for precedence climbing (higher binds tighter), as in Python, with `->`
# loosest of all. Comparisons do not chain.
INFIX_POWER = {
    "->": (1, "left"),
    "or": (2, "left"),
    "and": (3, "left"),
    "==": (5, "none"), "!=": (5, "none"), "<": (5, "none"), "<=": (5, "none"), ">": (5, "none"), ">=": (5, "none"),
    "+": (6, "left"), "-": (6, "left"),
    "*": (7, "left"), "/": (7, "left"), "//": (7, "left"), "%": (7, "left"),
    "**": (9, "right"),
}  # fmt: skip
PREFIX_POWER = {"not": 4, "-": 8, "+": 8}
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def _span(start: Location, end: Location) -> Location:
    return Location(start.file, start.line, start.column, end.end_line, end.end_column)


KEYWORDS = (
    "model",
    "block",
    "import",
    "as",
    "input",
    "output",
    "return",
    "for",
    "in",
    "if",
    "elif",
    "else",
    "and",
    "or",
    "not",
    "True",
    "False",
    "None",
)
STATEMENT_START = {"INPUT", "OUTPUT", "RETURN", "FOR", "IF", "NAME"}
EXPRESSION_START = {"NAME", "INT", "FLOAT", "STRING", "LPAR", "LSQB", "TRUE", "FALSE", "NONE", "ADD_OP", "NOT"}

MAX_SOURCE_BYTES = 1024 * 1024  # a hand-written spec is a few kB; loops make big graphs
MAX_NESTING = 200


def _grammar_text() -> str:
    with open(os.path.join(resource_dir("grammar"), "archdsl.lark"), encoding="utf-8") as handle:
        return handle.read()


class _CommentSink:
    """The lexer's callback for COMMENT tokens, which the grammar ignores: the parser keeps
    them here, so comments cost no second pass over the text."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []

    def __call__(self, token: Token) -> Token:
        self.tokens.append(token)
        return token


_COMMENTS = _CommentSink()
_PARSE_LOCK = threading.Lock()  # one parse at a time uses _COMMENTS


def cache_dir() -> str | None:
    """A private per-user directory for the parser cache, or None where there is none.

    The cache is a pickle, and loading a pickle runs code: it must not live where another
    user could plant one (a shared temporary directory). The directory is created with
    mode 0700 and used only if it is a real directory owned by this user that nobody else
    can write to.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "archdsl")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if not stat.S_ISDIR(info.st_mode) or not owner_ok or info.st_mode & 0o022 or not os.access(path, os.W_OK):
        return None
    return path


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, cached on disk (see :func:`cache_dir`): building it from the
    grammar costs ~100 ms, loading it ~5 ms.

    The lexer is Lark's basic one, which sees no parser state: keywords and dtype names are
    reserved everywhere, and `modelM` is always one name. (The contextual lexer let `output`
    be a name in some places and read `modelM` as `model M`; it also compiled a regex per
    parser state, a third of a small check's time.)
    """
    import hashlib

    import lark

    text = _grammar_text()

    directory = cache_dir()
    cache: str | bool = False
    if directory is not None:
        key = hashlib.sha256((text + lark.__version__).encode()).hexdigest()[:16]
        cache = os.path.join(directory, f"parser-{key}.lark")
    return lark.Lark(
        text,
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _COMMENTS},
        cache=cache,
    )


@lru_cache(maxsize=1)
def tables() -> lalr.Tables:
    """The parse tables (see :mod:`archdsl.lalrgen`). Were they made from another text of
    the grammar (it was edited, and ``python -m archdsl.lalrgen`` not yet run), they are
    made afresh with Lark, in memory."""
    from archdsl.lalrgen import tables_path

    grammar = _grammar_text()
    try:
        with open(tables_path(), encoding="utf-8") as handle:
            made = lalr.Tables.from_json(handle.read())
        if made.grammar == grammar:
            return made
    except (OSError, ValueError, KeyError):
        pass
    from archdsl.lalrgen import build_tables

    return lalr.Tables(build_tables(grammar))


MAX_SYNTAX_ERRORS = 10
# A line that starts a top-level item: where parsing resumes after a syntax error. The
# keywords are reserved, so such a line cannot be inside a body of valid code.
_ITEM_START = re.compile(r"^(?:model|block|import)\b", re.MULTILINE)


def _error_offset(exc: UnexpectedInput, text: str) -> int:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        return exc.pos_in_stream
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END" and exc.token.start_pos is not None:
        return exc.token.start_pos
    return len(text)


def _at_end(exc: UnexpectedInput) -> bool:
    from lark.exceptions import UnexpectedEOF, UnexpectedToken

    return isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")


def _syntax_errors(lark: Lark, first: UnexpectedInput, text: str, file: str) -> list[Diagnostic]:
    """The first syntax error, then one more for each later top-level item that has one.

    After the first error, parsing resumes at the next line that starts a top-level item
    (`model`, `block` or `import` in column 1); the text in between is skipped, so one
    mistake is reported once, not as a cascade. From there each item is parsed on its own,
    so finding the other errors costs at most one more pass over the file.
    """
    from lark.exceptions import UnexpectedInput

    errors = [_syntax_error(first, text, file).diagnostic]
    error_line = text.rfind("\n", 0, _error_offset(first, text)) + 1
    item = _ITEM_START.search(text, max(error_line, 1))  # an item starting on the error's line counts
    while item is not None and len(errors) < MAX_SYNTAX_ERRORS:
        start = item.start()
        item = _ITEM_START.search(text, start + 1)
        padding = "\n" * text.count("\n", 0, start)  # keeps the file's line and column numbers
        chunk = padding + text[start : item.start() if item else len(text)]
        try:
            lark.parse(chunk)
            continue
        except UnexpectedInput as exc:
            problem = exc
        if _at_end(problem) and item is not None:
            # An unclosed item: report what the whole file shows, "unexpected 'model'" at the next one.
            chunk = padding + text[start : item.end()]
            try:
                lark.parse(chunk)
            except UnexpectedInput as exc:
                problem = exc
        errors.append(_syntax_error(problem, chunk, file).diagnostic)
    return errors


_INPUT_WITHOUT_COLON = re.compile(r"\binput\s+[A-Za-z_][A-Za-z0-9_]*\s*\Z")


def _starts_line(text: str, token: Token) -> bool:
    line_start = text.rfind("\n", 0, token.start_pos) + 1
    return not text[line_start : token.start_pos].strip()


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type in ("NAME",):
        return f"name '{token.value}'"
    if token.type in ("INT", "FLOAT"):
        return f"number {token.value}"
    if token.type == "STRING":
        return f"string {token.value}"
    return f"'{token.value}'"


def _accepted(exc: UnexpectedToken) -> set[str]:
    """The tokens that could really come next. Lark's ``exc.expected`` is every token the
    parser's state has an action for, and an LALR state shared by several contexts reduces
    on tokens that only another context accepts (after `Dense(3` it would list `input` and
    `}`), so the parser is tried on each."""
    interactive = getattr(exc, "interactive_parser", None)
    accepted = set(interactive.accepts()) if interactive is not None else set()
    return accepted or set(exc.expected)


# Tokens that would continue an expression: binary operators, then a call, index or attribute.
EXPRESSION_CONTINUATION = {"ARROW", "OR", "AND", "COMPARE", "ADD_OP", "MUL_OP", "POW", "LPAR", "LSQB", "DOT"}


def _friendly_expected(expected: set[str], lark: Lark) -> str:
    names = set(expected)
    parts: list[str] = []
    if EXPRESSION_CONTINUATION <= names and names - EXPRESSION_CONTINUATION:
        # After a complete expression, the operators that could extend it are noise.
        names -= EXPRESSION_CONTINUATION
    if STATEMENT_START <= names:
        # After a complete statement, operators that could extend it are noise.
        names &= STATEMENT_START | {"RBRACE", "COMMA"}
        parts.append("a statement (input, output, return, for, if, or name = ...)")
        names -= STATEMENT_START
    if {"NAME", "INT", "LPAR"} <= names:
        parts.append("an expression")
        names -= EXPRESSION_START
    for name in sorted(names):
        if name in TOKEN_NAMES:
            parts.append(TOKEN_NAMES[name])
            continue
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            parts.append(f"'{pattern.value}'")
    parts = sorted(set(parts), key=lambda p: (not p.startswith("a statement"), not p.startswith("an expression"), p))
    if not parts:
        return "something else"
    if len(parts) > 6:
        parts = parts[:6] + ["..."]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


# Strings and comments are skipped when matching brackets; the patterns are the grammar's.
_BRACKET_SCAN = re.compile(r"""("([^"\\\n]|\\.)*"|'([^'\\\n]|\\.)*'|#[^\n]*)|[()\[\]{}]""")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _unclosed_bracket(text: str, offset: int) -> tuple[str, int] | None:
    """The innermost '(' or '[' still open at ``offset`` (the bracket and its offset), or
    None when there is none or a '{' was opened after it."""
    stack: list[tuple[str, int]] = []
    for match in _BRACKET_SCAN.finditer(text, 0, offset):
        if match.group(1):
            continue
        char = match.group()
        if char in _CLOSERS:
            if stack and stack[-1][0] == _CLOSERS[char]:
                stack.pop()
        else:
            stack.append((char, match.start()))
    if stack and stack[-1][0] in "([":
        return stack[-1]
    return None


def _unclosed_note(text: str, offset: int, error_line: int, file: str) -> tuple[str, Note] | None:
    """A hint and a note for an error that follows a '(' or '[' left open on an earlier
    line: the usual cause of an error a line or more below the real mistake."""
    found = _unclosed_bracket(text, offset)
    if found is None:
        return None
    bracket, at = found
    line = text.count("\n", 0, at) + 1
    if line >= error_line:
        return None
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    closer = ")" if bracket == "(" else "]"
    note = Note(f"the '{bracket}' opened here is not closed", Location(file, line, column, line, column + 1))
    return f"is a '{closer}' missing?", note


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> ArchError:
    """One syntax error as a diagnostic, with a hint for the usual causes."""
    from lark.exceptions import UnexpectedCharacters

    built = _syntax_error_without_brackets(exc, text, file)
    if isinstance(exc, UnexpectedCharacters):
        return built
    diagnostic = built.diagnostic
    error_line = diagnostic.location.line if diagnostic.location else 0
    unclosed = _unclosed_note(text, _error_offset(exc, text), error_line, file)
    if unclosed is None:
        return built
    hint, note = unclosed
    return ArchError(
        Diagnostic(diagnostic.severity, diagnostic.message, diagnostic.location, diagnostic.code, hint, (note,))
    )


def _syntax_error_without_brackets(exc: UnexpectedInput, text: str, file: str) -> ArchError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lark = parser()
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        loc = Location(file, exc.line, exc.column, exc.line, exc.column + 1)
        hint = None
        if char == "\t":
            return error("unexpected tab character", loc)
        if char in "\"'":
            hint = "strings end on the line they start; close the quote"
            return error("unterminated string", loc, code="syntax", hint=hint)
        if char == ";":
            hint = "statements need no ';': put each on its own line"
        elif char == "{" or char == "}":
            hint = "check the braces around this point"
        shown = repr(char)[1:-1] if char.isprintable() else f"\\u{ord(char):04x}"
        return error(f"unexpected character '{shown}'", loc, code="syntax", hint=hint)
    if isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        loc = Location(file, len(lines), len(lines[-1]) + 1)
        return error(
            f"unexpected end of file, expected {_friendly_expected(set(exc.expected), lark)}",
            loc,
            code="syntax",
            hint="is a '}' missing?",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    expected = _accepted(exc)
    if token.type == "$END":
        lines = text.splitlines() or [""]
        loc = Location(file, len(lines), len(lines[-1]) + 1)
        return error(
            f"unexpected end of file, expected {_friendly_expected(expected, lark)}",
            loc,
            code="syntax",
            hint="is a '}' missing?",
        )
    end_col = (token.end_column or token.column + 1) if token.end_line == token.line else token.column + 1
    loc = Location(file, token.line, token.column, token.line, end_col)
    hint = None
    if token.type == "NAME" and token.value in ("def", "class", "lambda", "while", "let", "var", "const"):
        hint = "archdsl has model and block definitions, for loops and assignments: see the language reference"
    elif token.value in ("model", "block", "import") and "RBRACE" in expected:
        hint = f"'{token.value}' starts a new top-level item here: is a '}}' missing above?"
    elif token.type in STATEMENT_START and token.type != "NAME" and _starts_line(text, token) and "NAME" in expected:
        hint = f"'{token.value}' starts a new statement here: is the expression before it unfinished?"
    elif token.type == "LPAR" and _INPUT_WITHOUT_COLON.search(text, 0, token.start_pos):
        hint = "write the shape after a ':', as in `input x: (28, 28, 1)`"
    elif token.value in KEYWORDS and "NAME" in expected:
        hint = f"'{token.value}' is a keyword and cannot be used as a name"
    elif token.type == "DTYPE" and "NAME" in expected:
        hint = f"'{token.value}' is a dtype name (as in `input t: int32 (n,)`) and cannot be used as a name"
    elif token.type == "EQUAL" and "COMPARE" in expected:
        hint = "use '==' to compare"
    elif token.type in ("NAME", "INT", "FLOAT", "STRING", "LPAR") and "RPAR" in expected:
        hint = "is a ',' missing between arguments?"
    elif token.type == "ARROW":
        hint = "a chain goes on the right of '=', after output/return, or inside an expression"
    message = f"unexpected {_describe_token(token)}, expected {_friendly_expected(expected, lark)}"
    return error(message, loc, code="syntax", hint=hint)


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r", "0": "\0"}


def _decode_string(token: Token, file: str) -> str:
    body = token.value[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                col = token.column + 1 + i
                raise error(
                    f"unknown escape sequence '\\{nxt}' in string",
                    Location(file, token.line, col, token.line, col + 2),
                    code="syntax",
                    hint="known escapes: \\n \\t \\\\ \\\" \\'",
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class _Builder:
    """Makes :mod:`archdsl.tree` nodes, one method per rule alias. Each method gets the
    tree's position (``meta``: line, column, end_line, end_column, empty) and its children
    as Lark shapes them: the rule's values and tokens, ``None`` for an absent ``[option]``.
    Tokens are Lark's or :class:`archdsl.lalr.Token`; both have the same fields."""

    def __init__(self, file: str):
        self.file = file

    def build(self, name: str, meta: Any, children: list) -> Any:
        return getattr(self, name)(meta, children)

    def _loc(self, meta) -> Location:
        if getattr(meta, "empty", True):
            return Location(self.file, 1, 1)
        return Location(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, token: Token) -> Location:
        return Location(self.file, token.line, token.column, token.end_line, token.end_column)

    # definitions
    def start(self, meta, items):
        return list(items)

    def import_stmt(self, meta, children):
        path, alias = children
        return t.Import(_decode_string(path, self.file), str(alias) if alias else None, loc=self._loc(meta))

    def _definition(self, kind, meta, children):
        name, params, body = children
        doc, stmts = body
        return t.Definition(
            kind, str(name), tuple(params or ()), stmts, doc, name_loc=self._tok(name), loc=self._loc(meta)
        )

    def model_def(self, meta, children):
        return self._definition("model", meta, children)

    def block_def(self, meta, children):
        return self._definition("block", meta, children)

    def param_list(self, meta, children):
        return tuple(c for c in children if c is not None)

    def param(self, meta, children):
        name, default = children
        return t.Param(str(name), default, loc=self._tok(name))

    def body(self, meta, children):
        doc_token, *stmts = children
        doc = _decode_string(doc_token, self.file) if doc_token is not None else None
        return doc, tuple(stmts)

    # statements
    def input_stmt(self, meta, children):
        name, dtype, shape = children
        return t.InputStmt(
            str(name), shape, str(dtype) if dtype else None, name_loc=self._tok(name), loc=self._loc(meta)
        )

    def output_stmt(self, meta, children):
        return t.OutputStmt(tuple(children), "output", loc=self._loc(meta))

    def return_stmt(self, meta, children):
        return t.OutputStmt(tuple(children), "return", loc=self._loc(meta))

    def assign_stmt(self, meta, children):
        *names, value = children
        return t.Assign(tuple(str(n) for n in names), value, tuple(self._tok(n) for n in names), loc=self._loc(meta))

    def for_stmt(self, meta, children):
        var, iterable, (_, body) = children
        return t.For(str(var), iterable, body, loc=self._loc(meta))

    def if_stmt(self, meta, children):
        cond, (_, body), *rest = children
        branches = [(cond, body)]
        orelse = None
        for clause in rest:
            if clause is None:
                continue
            if clause[0] == "elif":
                branches.append(clause[1:])
            else:
                orelse = clause[1]
        return t.If(tuple(branches), orelse, loc=self._loc(meta))

    def elif_clause(self, meta, children):
        cond, (_, body) = children
        return ("elif", cond, body)

    def else_clause(self, meta, children):
        (_, body) = children[0]
        return ("else", body)

    # expressions
    def expr(self, meta, children):
        """A flat operator sequence: resolve precedence by precedence climbing."""
        value, end = self._climb(children, 0, 0)
        assert end == len(children)
        return value

    def _climb(self, items: list, pos: int, min_power: int) -> tuple[t.Expr, int]:
        first = items[pos]
        if not isinstance(first, t.Node):  # a token: the prefix operator not, - or +
            op = str(first)
            operand, pos = self._climb(items, pos + 1, PREFIX_POWER[op])
            start = self._tok(first)
            left: t.Expr = t.UnaryOp(op, operand, loc=_span(start, operand.loc))
        else:
            left, pos = first, pos + 1
        while pos < len(items):
            token = items[pos]
            op = str(token)
            power, assoc = INFIX_POWER.get(op, INFIX_POWER.get(token.type, (0, "left")))
            if power < min_power:
                break
            if assoc == "none" and isinstance(left, t.BinOp) and left.op in COMPARISONS:
                raise error(
                    f"comparisons cannot be chained: '{left.op}' then '{op}'",
                    self._tok(token),
                    code="syntax",
                    hint="combine them with 'and': a < b and b < c",
                )
            right, pos = self._climb(items, pos + 1, power + 1 if assoc != "right" else power)
            loc = _span(left.loc, right.loc)
            if op == "->":
                if isinstance(left, t.Chain):
                    left = t.Chain(left.head, left.steps + (right,), loc=loc)
                else:
                    left = t.Chain(left, (right,), loc=loc)
            else:
                left = t.BinOp(op, left, right, loc=loc)
        return left, pos

    def call(self, meta, children):
        func, args = children
        return t.Call(func, tuple(args or ()), loc=self._loc(meta))

    def attribute(self, meta, children):
        value, name = children
        return t.Attribute(value, str(name), loc=self._loc(meta))

    def index(self, meta, children):
        value, idx = children
        return t.Index(value, idx, loc=self._loc(meta))

    def name(self, meta, children):
        return t.Name(str(children[0]), loc=self._tok(children[0]))

    def int_lit(self, meta, children):
        return t.Literal(int(children[0].value), loc=self._tok(children[0]))

    def float_lit(self, meta, children):
        return t.Literal(float(children[0].value), loc=self._tok(children[0]))

    def string_lit(self, meta, children):
        return t.Literal(_decode_string(children[0], self.file), loc=self._tok(children[0]))

    def true_lit(self, meta, children):
        return t.Literal(True, loc=self._loc(meta))

    def false_lit(self, meta, children):
        return t.Literal(False, loc=self._loc(meta))

    def none_lit(self, meta, children):
        return t.Literal(None, loc=self._loc(meta))

    def group(self, meta, children):
        return children[0]

    def tuple_lit(self, meta, children):
        return t.TupleExpr(tuple(c for c in children if c is not None), loc=self._loc(meta))

    def list_lit(self, meta, children):
        return t.ListExpr(tuple(c for c in children if c is not None), loc=self._loc(meta))

    def arguments(self, meta, children):
        return tuple(c for c in children if c is not None)

    def positional(self, meta, children):
        return t.Argument(children[0], loc=self._loc(meta))

    def keyword(self, meta, children):
        name, value = children
        return t.Argument(value, str(name), name_loc=self._tok(name), loc=self._loc(meta))


def _nesting_depth(text: str) -> int:
    depth = best = 0
    for c in text:
        if c in "([{":
            depth += 1
            best = max(best, depth)
        elif c in ")]}":
            depth -= 1
    return best


def parse(text: str, file: str = "<input>") -> t.Module:
    """Parse source text into a :class:`archdsl.tree.Module`. Raises ArchError."""
    if len(text) > MAX_SOURCE_BYTES:
        raise error(
            f"file is too large ({len(text)} characters; the limit is {MAX_SOURCE_BYTES})",
            Location(file, 1, 1),
            code="limit",
        )
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise error("file contains a NUL byte; is it a binary file?", Location(file, line, 1), code="syntax")
    depth = _nesting_depth(text)
    if depth > MAX_NESTING:
        raise error(f"brackets nested {depth} deep; the limit is {MAX_NESTING}", Location(file, 1, 1), code="limit")
    own = tables()
    try:
        tokens, comment_tokens = own.tokens(text, "COMMENT")
        items = own.parse(tokens, _Builder(file).build)
    except (lalr.Rejected, ArchError):
        # Lark explains a syntax error; a builder's error (a bad escape, chained
        # comparisons) is raised again there, after any syntax error before it.
        return parse_with_lark(text, file)
    comments = [t.Comment(c.value, loc=Location(file, c.line, c.column, c.line, c.end_column)) for c in comment_tokens]
    return t.Module(file, tuple(items), tuple(comments), loc=Location(file, 1, 1))


def parse_with_lark(text: str, file: str = "<input>") -> t.Module:
    """Parse with Lark itself: slower to start, and the one that explains syntax errors.
    :func:`parse` comes here for text that its own tables reject."""
    from lark import Tree
    from lark.exceptions import UnexpectedInput

    lark = parser()
    with _PARSE_LOCK:
        _COMMENTS.tokens = []
        try:
            lark_tree = lark.parse(text)
        except UnexpectedInput as exc:
            raise ArchError(*_syntax_errors(lark, exc, text, file)) from None
        comments = [
            t.Comment(str(c), loc=Location(file, c.line, c.column, c.line, c.column + len(c))) for c in _COMMENTS.tokens
        ]
    builder = _Builder(file)

    def build(node: Any) -> Any:
        if isinstance(node, Tree):
            return builder.build(node.data, node.meta, [build(child) for child in node.children])
        return node

    return t.Module(file, tuple(build(lark_tree)), tuple(comments), loc=Location(file, 1, 1))
