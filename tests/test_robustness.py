"""No input crashes the checker, hangs it, or makes it use unbounded memory; every error
carries a line and a column, and no message shows internal names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archdsl.api import check_file, check_source
from tests.conftest import assert_parsers_agree

ROOT = Path(__file__).resolve().parent.parent
SPECS = [p.read_text() for p in sorted((ROOT / "specs").glob("*.arch"))]
EXAMPLES = int(os.environ.get("ARCHDSL_FUZZ_EXAMPLES", "150"))
INTERNAL = re.compile(
    r"__ANON|\bRPAR\b|\bLPAR\b|\bNAME\b|Token\(|CallValue|TensorValue|NoneType|<class|Traceback|\$END"
)
TOKENS = [
    "model", "block", "input", "output", "return", "for", "in", "if", "elif", "else", "import", "as",
    "(", ")", "{", "}", "[", "]", ",", ":", "=", "->", "+", "-", "*", "/", "//", "**", "%", "==", "<",
    "and", "or", "not", "True", "False", "None", "x", "h", "M", "Dense", "Conv2D", "LSTM", "Add",
    "TimeDistributed", "Bidirectional", "Sampling", "Reshape", "range", "0", "3", "-1", "1e9", "2.5",
    '"relu"', "'same'", "int32", "# c\n", "\n", ".", "shape", "l2(0.1)", "(28, 28, 1)",
]  # fmt: skip


def assert_well_formed(source: str) -> None:
    result = check_source(source, "fuzz.arch")
    for d in result.reporter.diagnostics:
        assert d.location is not None and d.location.line >= 1 and d.location.column >= 1, d
        assert not INTERNAL.search(d.message), d.message
        assert d.hint is None or not INTERNAL.search(d.hint), d.hint


fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    assert_well_formed(data.decode("utf-8", "replace"))


@fuzz
@given(st.lists(st.sampled_from(TOKENS), max_size=80))
def test_random_token_streams(tokens: list[str]) -> None:
    assert_well_formed(" ".join(tokens))


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(TOKENS)), min_size=1, max_size=6)


def mutate(spec: str, edits: list[tuple[int, int, str]]) -> str:
    text = spec
    for position, action, token in edits:
        position %= len(text) + 1
        if action == 0:
            text = text[:position] + text[position + 1 :]
        elif action == 1:
            text = text[:position] + " " + token + " " + text[position:]
        elif action == 2:
            text = text[:position] + token + text[position + len(token) :]
        else:
            text = text[:position] + text[position:][::-1][:3] + text[position + 3 :]
    return text


@fuzz
@given(st.sampled_from(SPECS), EDITS)
def test_mutated_specs(spec: str, edits: list[tuple[int, int, str]]) -> None:
    assert_well_formed(mutate(spec, edits))


@fuzz
@given(st.sampled_from(SPECS), EDITS)
def test_own_parser_and_lark_agree_on_mutated_specs(spec: str, edits: list[tuple[int, int, str]]) -> None:
    """Mutations of real specs, many still valid: the same tree (positions included) or
    the same syntax errors from archdsl's tables as from Lark itself."""
    assert_parsers_agree(mutate(spec, edits))


def test_repeat_of_a_billion_is_refused() -> None:
    result = check_source("model M { input x: (4,) h = x for i in range(10 ** 9) { h = h -> Dense(4) } output h }")
    assert [d.message for d in result.reporter.errors] == ["loop of 1000000000 iterations; the limit is 100000"]


def test_nested_loops_hit_the_graph_limit() -> None:
    source = (
        "model M { input x: (4,) h = x for i in range(1000) { for j in range(1000) { h = h -> ReLU() } } output h }"
    )
    result = check_source(source)
    assert any("more than" in d.message for d in result.reporter.errors)


def test_blocks_nested_ten_thousand_deep() -> None:
    depth = 10_000
    blocks = [f"block b{i}(n) {{ input x return x -> b{i + 1}(n) }}" for i in range(depth)]
    blocks.append(f"block b{depth}(n) {{ input x return x -> Dense(n) }}")
    source = "\n".join(blocks) + "\nmodel M { input x: (4,) output x -> b0(3) }\n"
    result = check_source(source)
    messages = [d.message for d in result.reporter.errors]
    assert messages == ["blocks and models nested more than 64 deep"], messages[:3]


def test_brackets_nested_ten_thousand_deep() -> None:
    result = check_source("model M { x = " + "(" * 10_000 + "1" + ")" * 10_000 + " }")
    assert [d.message for d in result.reporter.errors] == ["brackets nested 10001 deep; the limit is 200"]  # and the {


def test_hundred_megabyte_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.arch"
    with big.open("wb") as handle:  # a sparse file: 100 MB long, nothing written
        handle.truncate(100 * 1024 * 1024)
    result = check_file(big)
    assert [d.message for d in result.reporter.errors] == [
        "file is too large (104,857,600 bytes; the limit is 1,048,576)"
    ]


def test_dimension_of_ten_to_the_twelve() -> None:
    result = check_source("model M { input x: (10 ** 12,) output x }")
    assert [d.message for d in result.reporter.errors] == [
        "dimension 1000000000000 is too large; the limit is 2147483647"
    ]
    result = check_source("model M { input x: (4,) output x -> Dense(10 ** 12) }")
    assert [d.message for d in result.reporter.errors] == ["value 1000000000000 is too large; the limit is 2147483647"]


@pytest.mark.parametrize(
    "expression",
    ["2 ** 10 ** 9", "(1,) * 10 ** 9", "10 ** 400", "1e308 * 10", "len(range(10 ** 18))"],
)
def test_arithmetic_bombs_are_bounded(expression: str) -> None:
    result = check_source(f"model M(n={expression}) {{ input x: (4,) output x }}")
    assert result.reporter.errors or result.ok


DETERMINISM_SCRIPT = """
import contextlib, io, sys
from click.testing import CliRunner
from archdsl.cli import main
runner = CliRunner()
out = []
for spec in sys.argv[1:]:
    for args in (["check", "--format", "json", spec], ["summary", spec],
                 ["compile", spec, "--target", "keras"], ["compile", spec, "--target", "torch"]):
        result = runner.invoke(main, args)
        out.append(f"== {args} exit {result.exit_code}\\n{result.output}")
sys.stdout.write("".join(out))
"""


def test_check_compile_and_summary_are_byte_identical_across_20_hash_seeds() -> None:
    specs = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "specs").glob("*.arch"))]
    outputs = {}
    for seed in range(20):
        env = {**os.environ, "PYTHONHASHSEED": str(seed * 7919)}
        run = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, *specs], cwd=ROOT, env=env, capture_output=True, timeout=300
        )
        assert run.returncode == 0, run.stderr.decode()[-2000:]
        outputs[seed] = run.stdout
    assert len(set(outputs.values())) == 1
    text = outputs[0].decode()
    assert text.count("exit 0") == 4 * len(specs) and "import torch" in text and "import keras" in text


def test_a_warning_in_a_long_loop_is_reported_once() -> None:
    source = (
        'model M { input x: (4,) h = x for i in range(20000) { h = h -> Dense(1, activation="softmax") } output h }'
    )
    result = check_source(source)
    assert result.ok
    (warning,) = result.reporter.warnings
    assert warning.message.startswith("Dense: softmax over an axis of size 1")
    assert [note.message for note in warning.notes] == ["in the loop iteration with i=0"]


def test_an_error_repeated_in_a_second_block_call_causes_no_cascade() -> None:
    """The second call's error is the first one again, so it is not shown twice; the call
    must still count as failed, not go on to 'returns nothing'."""
    source = (
        "block bad(u) { input x return x -> Conv2D(u, 3) }\n"
        "model M { input x: (4,) a = x -> bad(2) b = x -> bad(2) output (a, b) -> Add() }\n"
    )
    result = check_source(source)
    assert [d.message.split(" expects")[0] for d in result.reporter.errors] == ["Conv2D"]
    assert result.reporter.error_count == 2
