"""A long fuzz campaign over the checker: random bytes, random token streams, and mutations
of every spec and diagnostics fixture. Prints inputs tried, failures found, and the slowest
input. A failure is an exception escaping ``check_source`` or a diagnostic without a line
and column. (tests/test_robustness.py runs a bounded version in CI.)

    python bench/fuzz_campaign.py --inputs 20000 --seed 1
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.api import check_source  # noqa: E402

TOKENS = [
    "model", "block", "input", "output", "return", "for", "in", "if", "elif", "else", "import",
    "(", ")", "{", "}", "[", "]", ",", ":", "=", "->", "+", "-", "*", "/", "//", "**", "%", "==",
    "<", ">", "and", "or", "not", "True", "False", "None", "x", "h", "Dense", "Conv2D", "LSTM",
    "Add", "range", "3", "0", "-1", "1e9", "10**12", '"s"', "int32", "#c\n", "\n", ".", "shape",
    "TimeDistributed", "Bidirectional", "Sampling", "Reshape", "(28, 28, 1)", "l2(0.1)",
]  # fmt: skip


def mutate(rng: random.Random, source: str) -> str:
    text = list(source)
    for _ in range(rng.randint(1, 6)):
        position = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.3 and text:
            del text[min(position, len(text) - 1)]
        elif action < 0.6:
            text.insert(position, rng.choice("(){}[],:=->+*/#\"' \nxyz0123456789"))
        else:
            text[position:position] = list(" " + rng.choice(TOKENS) + " ")
    return "".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpus = [p.read_text() for p in sorted((ROOT / "specs").glob("*.arch"))]
    corpus += [p.read_text() for p in sorted((ROOT / "tests" / "diagnostics").glob("*.arch"))]
    rng = random.Random(args.seed)
    failures = 0
    slowest = (0.0, "")
    kinds = {"mutation": 0, "tokens": 0, "bytes": 0}
    started = time.perf_counter()
    for _ in range(args.inputs):
        roll = rng.random()
        if roll < 0.5:
            kinds["mutation"] += 1
            source = mutate(rng, rng.choice(corpus))
        elif roll < 0.85:
            kinds["tokens"] += 1
            source = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 80)))
        else:
            kinds["bytes"] += 1
            source = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))).decode("utf-8", "replace")
        began = time.perf_counter()
        try:
            result = check_source(source, "fuzz.arch")
            for d in result.reporter.diagnostics:
                if d.location is None or d.location.line < 1 or d.location.column < 1:
                    raise AssertionError(f"diagnostic without a position: {d}")
        except Exception:
            failures += 1
            if failures <= 3:
                print("FAILURE on:", repr(source)[:400])
                traceback.print_exc(limit=4)
        elapsed = time.perf_counter() - began
        if elapsed > slowest[0]:
            slowest = (elapsed, source[:80])
    total = time.perf_counter() - started
    print(
        f"fuzz campaign: {args.inputs} inputs ({kinds['mutation']} spec mutations, {kinds['tokens']} token streams, "
        f"{kinds['bytes']} random byte strings), seed {args.seed}, {total:.1f} s"
    )
    print(f"failures: {failures}; slowest input {slowest[0] * 1000:.1f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
