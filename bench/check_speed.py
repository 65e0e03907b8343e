"""How fast is ``archdsl check``? A benchmark report, not a test: it times, prints and exits 0.

In one run it measures, side by side:

1. every spec in specs/: the wall time of a whole ``archdsl check -q SPEC`` subprocess,
   interpreter start included (median and min of N runs), and the checker's peak RSS;
2. the same architectures built with Keras 3 in a fresh subprocess (bench/keras_reference.py:
   ``import keras``, build, ``count_params()``), the ratio keras / archdsl, and a sanity
   check that Keras's parameter count equals archdsl's;
3. scaling: generated specs whose graphs have 1k, 10k and 100k layers, in two shapes (a chain
   of Dense layers, and a Dense+Add residual block called in a loop), with time per 1k layers
   and the growth exponent, so linear growth (or its absence) is visible.

Targets are printed next to the figures with PASS/MISS markers; they are informational only.
Run ``python bench/check_speed.py --help`` for the options; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SPECS = REPO / "specs"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

TARGET_RESNET_S = 0.150  # a ResNet-sized spec, interpreter start included
TARGET_KERAS_RATIO = 30.0  # keras build time / archdsl check time
TARGET_100K_S = 3.0  # a 100k-layer graph, interpreter start included
TARGET_GROWTH_EXPONENT = 1.2  # time ~ layers**k from 10k to 100k layers; 1.0 is linear

SCALE_SIZES = (1_000, 10_000, 100_000)


# --------------------------------------------------------------------------- subprocesses


@dataclass
class Run:
    wall_s: float
    rc: int
    maxrss_kb: int | None  # the child's own peak RSS (None where the OS cannot say)
    stdout: str
    stderr: str
    timed_out: bool = False


def run_child(argv: list[str], timeout: float) -> Run:
    """Run one subprocess, timing it from spawn to reap, and read its own peak RSS.

    os.wait4 returns the rusage of exactly this child, so the peak RSS is not mixed up with
    earlier (larger) children the way RUSAGE_CHILDREN's running maximum would be.
    Output goes to temporary files so a chatty child cannot block on a full pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        timed_out = threading.Event()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.perf_counter() - t0
                proc.returncode = os.waitstatus_to_exitcode(status)
                maxrss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
            else:  # pragma: no cover - Windows
                proc.wait()
                wall = time.perf_counter() - t0
                maxrss = None
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        return Run(
            wall,
            proc.returncode,
            maxrss,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            timed_out.is_set(),
        )


@dataclass
class Timing:
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.rc == 0 and not r.timed_out for r in self.runs)

    @property
    def walls(self) -> list[float]:
        return [r.wall_s for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def min(self) -> float:
        return min(self.walls)

    @property
    def maxrss_kb(self) -> int | None:
        values = [r.maxrss_kb for r in self.runs if r.maxrss_kb is not None]
        return max(values) if values else None

    def failure(self) -> str | None:
        for r in self.runs:
            if r.timed_out:
                return f"timed out after {r.wall_s:.1f} s"
            if r.rc != 0:
                tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
                return f"exit status {r.rc}: " + " | ".join(tail)
        return None


def time_command(argv: list[str], repeats: int, timeout: float, warmup: int = 1) -> Timing:
    """Run argv `warmup` times untimed (page cache, .pyc files), then `repeats` times timed.

    Stops early when a run fails: a failure is reported, not averaged.
    """
    for _ in range(warmup):
        run = run_child(argv, timeout)
        if run.rc != 0 or run.timed_out:
            return Timing([run])
    timing = Timing()
    for _ in range(repeats):
        run = run_child(argv, timeout)
        timing.runs.append(run)
        if run.rc != 0 or run.timed_out:
            break
    return timing


def archdsl_check_argv(spec: Path) -> list[str]:
    return [sys.executable, "-m", "archdsl", "check", "-q", str(spec)]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- formatting


def ms(seconds: float | None) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def secs(seconds: float | None) -> str:
    return "-" if seconds is None or math.isnan(seconds) else f"{seconds:.2f} s"


def mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MiB"


def mark(passed: bool | None) -> str:
    return "n/a " if passed is None else ("PASS" if passed else "MISS")


def table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            lines.append(("  " + "  ".join("-" * w for w in widths)).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- in-process check


@dataclass
class InProcess:
    ok: bool
    seconds: float
    models: dict[str, tuple[int, int]]  # model name -> (nodes, total params)
    errors: list[str]


def check_in_process(path: Path, repeats: int, timeout: float) -> InProcess:
    """Node counts, parameter totals, diagnostics and the warm in-process check time of a spec.

    archdsl.api runs in a helper subprocess (this script with --inspect), not here: a child's
    peak RSS as the kernel reports it includes the parent's own high-water mark at spawn time,
    so the benchmarking process must stay small for the RSS figures to mean anything.
    """
    argv = [sys.executable, str(Path(__file__).resolve()), "--inspect", str(path), "--repeats", str(repeats)]
    run = run_child(argv, timeout)
    try:
        data = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = " | ".join((run.stdout + run.stderr).strip().splitlines()[-3:])
        return InProcess(False, math.nan, {}, [f"the in-process check crashed (exit status {run.rc}): {tail}"])
    return InProcess(data["ok"], data["seconds"], {k: tuple(v) for k, v in data["models"].items()}, data["errors"])


def inspect_main(path: str, repeats: int) -> int:
    """The --inspect helper: check `path` with archdsl.api in this process, print one JSON line.

    A tiny spec is checked first so that imports and the parser's construction are not part
    of the time: `seconds` (the median of `repeats` checks) is what checking this graph costs
    a warm process, with no interpreter start in it.
    """
    from archdsl.api import check_file, check_source

    check_source("model Warmup {\n    input x: (2,)\n    output x -> Dense(2)\n}\n", "<warmup>")
    runs = []
    result = None
    for _ in range(repeats):
        del result  # do not hold two big graphs at once
        t0 = time.perf_counter()
        result = check_file(path)
        runs.append(time.perf_counter() - t0)
    seconds = statistics.median(runs)
    models = {}
    if result.program is not None:
        for name, model in result.program.models.items():
            models[name] = [len(model.nodes), model.param_count.total]
    errors = []
    if not result.ok:
        errors = [
            (f"{d.location.line}:{d.location.column}: " if d.location else "") + f"{d.severity.value}: {d.message}"
            for d in result.reporter.sorted()
        ]
    print(json.dumps({"ok": result.ok, "seconds": seconds, "runs": runs, "models": models, "errors": errors}))
    return 0


def pick_model(stem: str, models: dict[str, tuple[int, int]]) -> str | None:
    if len(models) == 1:
        return next(iter(models))
    for name in models:
        if name.lower() == stem.lower():
            return name
    return None


# --------------------------------------------------------------------------- section 1 + 2


def bench_specs(args: argparse.Namespace, report: dict) -> list[dict]:
    specs = sorted(SPECS.glob("*.arch"))
    keras_script = BENCH / "keras_reference.py"
    results: list[dict] = []
    keras_warm = False
    for spec in specs:
        stem = spec.stem
        entry: dict = {"spec": spec.name}
        results.append(entry)
        progress(f"[specs] {spec.name}: archdsl check x{args.repeats} ...")
        inproc = check_in_process(spec, args.inproc_repeats, args.timeout)
        model = pick_model(stem, inproc.models)
        entry["model"] = model
        entry["in_process_s"] = inproc.seconds
        if model is not None:
            entry["layers"] = inproc.models[model][0]
        entry["archdsl_params"] = {name: params for name, (_, params) in inproc.models.items()}
        if not inproc.ok:
            entry["check_errors"] = inproc.errors
        timing = time_command(archdsl_check_argv(spec), args.repeats, args.timeout)
        entry["check_ok"] = timing.ok
        if timing.ok:
            entry["check_median_s"] = timing.median
            entry["check_min_s"] = timing.min
            entry["check_runs_s"] = timing.walls
            entry["check_maxrss_kb"] = timing.maxrss_kb
        else:
            entry["check_failure"] = timing.failure()
        if args.no_keras:
            continue
        argv = [sys.executable, str(keras_script), stem]
        progress(f"[specs] {spec.name}: keras build x{args.keras_repeats} ...")
        ktiming = time_command(argv, args.keras_repeats, args.timeout, warmup=0 if keras_warm else 1)
        keras_warm = True
        if not ktiming.ok:
            entry["keras_failure"] = ktiming.failure()
            continue
        infos = [json.loads(r.stdout.strip().splitlines()[-1]) for r in ktiming.runs]
        entry["keras_median_s"] = ktiming.median
        entry["keras_min_s"] = ktiming.min
        entry["keras_runs_s"] = ktiming.walls
        entry["keras_maxrss_kb"] = ktiming.maxrss_kb
        entry["keras_import_median_s"] = statistics.median(i["import_s"] for i in infos)
        entry["keras_build_median_s"] = statistics.median(i["build_s"] for i in infos)
        entry["keras_params"] = infos[0]["params"]
        report["meta"]["keras"] = infos[0]["keras"]
        report["meta"]["keras_backend"] = infos[0]["backend"]
        if timing.ok:
            entry["ratio"] = ktiming.median / timing.median
        entry["params_match"] = entry["keras_params"] == entry["archdsl_params"]
    return results


def print_specs(results: list[dict], args: argparse.Namespace, bare_s: float | None) -> None:
    print("1-2. archdsl check vs Keras 3 build, each a fresh subprocess (interpreter start and imports included)")
    keras_runs = "skipped (--no-keras)" if args.no_keras else f"median/min of {args.keras_repeats} runs"
    print(f"     archdsl: median/min of {args.repeats} runs; keras: {keras_runs}")
    print(f"     for scale: a bare interpreter start (python -c pass) takes {ms(bare_s)} here")
    rows = [
        [
            "spec",
            "layers",
            "check med",
            "check min",
            "check RSS",
            "keras med",
            "keras min",
            "(import",
            "build)",
            "keras RSS",
            "ratio",
            f"> {TARGET_KERAS_RATIO:.0f}x",
        ]
    ]
    for e in results:
        ratio = e.get("ratio")
        rows.append(
            [
                e["spec"],
                str(e.get("layers", "-")),
                ms(e.get("check_median_s")),
                ms(e.get("check_min_s")),
                mib(e.get("check_maxrss_kb")),
                ms(e.get("keras_median_s")),
                ms(e.get("keras_min_s")),
                ms(e.get("keras_import_median_s")),
                ms(e.get("keras_build_median_s")),
                mib(e.get("keras_maxrss_kb")),
                "-" if ratio is None else f"{ratio:.1f}x",
                "" if ratio is None else mark(ratio > TARGET_KERAS_RATIO),
            ]
        )
    print(table(rows, right=set(range(1, 11))))
    print()
    print("     parameter counts, every model of every spec (Keras count_params vs archdsl param_count.total):")
    if args.no_keras:
        print("     (Keras not run: --no-keras)")
    for e in results:
        if "check_errors" in e:
            print(f"     {e['spec']}: archdsl check FAILED: " + "; ".join(e["check_errors"][:3]))
        if "check_failure" in e:
            print(f"     {e['spec']}: `archdsl check` subprocess FAILED: {e['check_failure']}")
        if "keras_failure" in e:
            print(f"     {e['spec']}: keras: {e['keras_failure']}")
        if "params_match" not in e:
            continue
        ours, theirs = e["archdsl_params"], e["keras_params"]
        for model in list(ours) + [m for m in theirs if m not in ours]:
            name = f"{e['spec']} {model}"
            if model not in theirs:
                print(f"     {name}: no Keras reference in tests/keras_references.py")
            elif model not in ours:
                print(f"     {name}: a Keras reference, but no such model in the spec")
            elif ours[model] == theirs[model]:
                print(f"     {name}: match, {ours[model]:,} params")
            else:
                print(
                    f"     {name}: MISMATCH: keras {theirs[model]:,} != archdsl {ours[model]:,}"
                    f" (difference {theirs[model] - ours[model]:+,})"
                )
    print()


# --------------------------------------------------------------------------- section 3


def chain_spec(layers: int) -> str:
    """A chain of `layers` Dense layers, one per loop iteration."""
    return f"""# generated by bench/check_speed.py: a chain of {layers} Dense layers
model Chain {{
    input x: (8,)
    h = x
    for i in range({layers}) {{
        h = h -> Dense(8)
    }}
    output h
}}
"""


def residual_spec(layers: int) -> str:
    """A Dense+Add residual block called layers/2 times in a loop (2 layers per call)."""
    return f"""# generated by bench/check_speed.py: {layers // 2} calls of a Dense+Add residual block
block residual(units) {{
    input x
    return (x -> Dense(units), x) -> Add()
}}

model Residual {{
    input x: (8,)
    h = x
    for i in range({layers // 2}) {{
        h = h -> residual(8)
    }}
    output h
}}
"""


FAMILIES = {"chain": chain_spec, "residual": residual_spec}


def growth_exponent(small: dict, big: dict) -> float | None:
    """k in time ~ layers**k between two sizes, on warm in-process check times (no start cost)."""
    a, b = small.get("in_process_s"), big.get("in_process_s")
    if a is None or b is None or not (a > 0 and b > 0):
        return None
    return math.log(b / a) / math.log(big["layers"] / small["layers"])


def bench_scaling(args: argparse.Namespace) -> dict:
    sizes = [s for s in SCALE_SIZES if not (args.quick and s > 10_000)]
    out: dict = {"sizes": sizes, "families": {}}
    with tempfile.TemporaryDirectory(prefix="archdsl-bench-") as tmp:
        # The fixed cost every check pays (interpreter start, imports, CLI): a 1-layer chain.
        base = Path(tmp) / "baseline.arch"
        base.write_text(chain_spec(1), encoding="utf-8")
        progress(f"[scale] baseline (1 layer) x{args.repeats} ...")
        bt = time_command(archdsl_check_argv(base), args.repeats, args.timeout)
        baseline = bt.median if bt.ok else None
        out["baseline_s"] = baseline
        out["baseline_maxrss_kb"] = bt.maxrss_kb
        for family, make in FAMILIES.items():
            rows = []
            for size in sizes:
                path = Path(tmp) / f"{family}_{size}.arch"
                path.write_text(make(size), encoding="utf-8")
                progress(f"[scale] {family} {size:,} layers x{args.repeats} ...")
                inproc = check_in_process(path, args.inproc_repeats, args.timeout)
                row: dict = {"target_layers": size, "in_process_s": inproc.seconds}
                nodes = next(iter(inproc.models.values()))[0] if inproc.models else size
                row["layers"] = nodes
                row["in_process_per_1k_s"] = inproc.seconds / nodes * 1000
                if not inproc.ok:
                    row["check_errors"] = inproc.errors
                timing = time_command(archdsl_check_argv(path), args.repeats, args.timeout)
                if timing.ok:
                    row["median_s"] = timing.median
                    row["min_s"] = timing.min
                    row["runs_s"] = timing.walls
                    row["maxrss_kb"] = timing.maxrss_kb
                    row["per_1k_s"] = timing.median / nodes * 1000
                    if baseline is not None:
                        row["net_s"] = timing.median - baseline
                else:
                    row["failure"] = timing.failure()
                rows.append(row)
            for small, big in zip(rows, rows[1:], strict=False):
                big["growth_exponent"] = growth_exponent(small, big)
            out["families"][family] = rows
    return out


def print_scaling(scaling: dict, args: argparse.Namespace) -> None:
    print(f"3. scaling: `archdsl check -q` on generated specs, median/min of {args.repeats} runs (start included)")
    print(
        f"   fixed cost (a 1-layer spec): {ms(scaling['baseline_s'])}, {mib(scaling['baseline_maxrss_kb'])} peak RSS;"
        " every row below pays it"
    )
    print("   chain = h -> Dense(8) in a loop; residual = a (Dense, identity) -> Add() block called in a loop")
    print(
        f"   in-process = the check alone in a warm process (archdsl.api.check_file, no interpreter start),"
        f" median of {args.inproc_repeats}"
    )
    rows = [
        [
            "family",
            "layers",
            "median",
            "min",
            "per 1k",
            "in-process",
            "in-proc per 1k",
            "growth k",
            "peak RSS",
            f"100k < {TARGET_100K_S:.0f} s",
        ]
    ]
    for family, family_rows in scaling["families"].items():
        for r in family_rows:
            k = r.get("growth_exponent")
            target = ""
            if r["target_layers"] == 100_000 and "median_s" in r:
                target = mark(r["median_s"] < TARGET_100K_S)
            rows.append(
                [
                    family,
                    f"{r['layers']:,}",
                    secs(r.get("median_s")),
                    secs(r.get("min_s")),
                    ms(r.get("per_1k_s")),
                    secs(r["in_process_s"]),
                    ms(r.get("in_process_per_1k_s")),
                    "-" if k is None else f"{k:.2f}",
                    mib(r.get("maxrss_kb")),
                    target,
                ]
            )
    print(table(rows, right={1, 2, 3, 4, 5, 6, 7, 8}))
    print(
        "   growth k: in-process time ~ layers**k between this size and the previous one (1.00 = linear);"
        " per 1k = time / layers * 1000"
    )
    for family, family_rows in scaling["families"].items():
        for r in family_rows:
            if "failure" in r:
                print(f"   {family} {r['target_layers']:,}: `archdsl check` FAILED: {r['failure']}")
            if "check_errors" in r:
                print(f"   {family} {r['target_layers']:,}: check errors: " + "; ".join(r["check_errors"][:3]))
    print()


# --------------------------------------------------------------------------- targets


def evaluate_targets(results: list[dict], scaling: dict, quick: bool) -> list[dict]:
    targets: list[dict] = []

    by_name = {e["spec"]: e for e in results}
    resnet = by_name.get("resnet.arch")
    if resnet is None and results:  # the spec with the most layers stands in for ResNet
        resnet = max(results, key=lambda e: e.get("layers", 0))
    value = resnet.get("check_median_s") if resnet else None
    targets.append(
        {
            "target": f"ResNet-sized spec checked in < {TARGET_RESNET_S * 1000:.0f} ms, interpreter start included",
            "figure": f"{resnet['spec']}: median {ms(value)}" if resnet else "no spec",
            "value": value,
            "pass": None if value is None else value < TARGET_RESNET_S,
        }
    )

    ratios = [(e["ratio"], e["spec"]) for e in results if "ratio" in e]
    if ratios:
        low, low_spec = min(ratios)
        middle = statistics.median(r for r, _ in ratios)
        figure = (
            f"lowest {low:.1f}x ({low_spec}), median {middle:.1f}x over {len(ratios)} specs (each in the table above)"
        )
    else:
        low, figure = None, "not measured"
    targets.append(
        {
            "target": f"Keras build / archdsl check > {TARGET_KERAS_RATIO:.0f}x (every spec)",
            "figure": figure,
            "value": low,
            "pass": None if low is None else low > TARGET_KERAS_RATIO,
        }
    )

    for family, rows in scaling["families"].items():
        big = next((r for r in rows if r["target_layers"] == 100_000), None)
        if big is None:
            targets.append(
                {
                    "target": f"100k-layer graph ({family}) in < {TARGET_100K_S:.0f} s",
                    "figure": "skipped (--quick)" if quick else "not measured",
                    "value": None,
                    "pass": None,
                }
            )
        else:
            value = big.get("median_s")
            targets.append(
                {
                    "target": f"100k-layer graph ({family}) in < {TARGET_100K_S:.0f} s",
                    "figure": f"median {secs(value)}" if value is not None else f"FAILED: {big.get('failure')}",
                    "value": value,
                    "pass": None if value is None else value < TARGET_100K_S,
                }
            )
        last = rows[-1] if len(rows) >= 2 else None
        k = last.get("growth_exponent") if last else None
        span = f"{rows[-2]['target_layers'] // 1000}k -> {last['target_layers'] // 1000}k" if last else ""
        targets.append(
            {
                "target": f"linear growth ({family}): k <= {TARGET_GROWTH_EXPONENT} from {span} layers",
                "figure": "-" if k is None else f"k = {k:.2f}",
                "value": k,
                "pass": None if k is None else k <= TARGET_GROWTH_EXPONENT,
            }
        )
    return targets


def print_targets(targets: list[dict]) -> None:
    print("targets (informational; the script exits 0 either way)")
    rows = [["", "target", "figure"]]
    for t in targets:
        rows.append([mark(t["pass"]), t["target"], t["figure"]])
    print(table(rows, right=set()))


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--repeats", type=int, help="timed runs per archdsl figure (default 7; 3 with --quick)")
    parser.add_argument(
        "--keras-repeats", type=int, help="timed runs per Keras build (default 3; 1 with --quick); each takes seconds"
    )
    parser.add_argument(
        "--inproc-repeats", type=int, help="in-process checks per scaling spec (default 3; 1 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, and skip the 100k-layer specs")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras builds (section 2)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure (and every run) to PATH as JSON")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a subprocess is killed (300)")
    parser.add_argument("--inspect", metavar="SPEC", help=argparse.SUPPRESS)  # internal: see inspect_main
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.keras_repeats is None:
        args.keras_repeats = 1 if args.quick else 3
    if args.inproc_repeats is None:
        args.inproc_repeats = 1 if args.quick else 3
    if args.repeats < 1 or args.keras_repeats < 1 or args.inproc_repeats < 1:
        parser.error("repeats must be at least 1")
    return args


def own_maxrss_kb() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inspect:
        return inspect_main(args.inspect, args.repeats)
    # An installed package has its bytecode compiled by pip; a source checkout may not
    # (PYTHONDONTWRITEBYTECODE=1 stops Python writing it). Compile it once so every timed
    # run reads .pyc files, as a user's install does; otherwise each run recompiles archdsl.
    import compileall

    from archdsl import __version__  # archdsl/__init__.py only: the benchmarking process stays small

    compileall.compile_dir(str(REPO / "archdsl"), quiet=1)

    started = time.perf_counter()
    report: dict = {
        "meta": {
            "archdsl": __version__,
            "python": platform.python_version(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg(),
            "repeats": args.repeats,
            "inproc_repeats": args.inproc_repeats,
            "keras_repeats": 0 if args.no_keras else args.keras_repeats,
            "quick": args.quick,
        },
        "targets_defined": {
            "resnet_check_s": TARGET_RESNET_S,
            "keras_ratio": TARGET_KERAS_RATIO,
            "graph_100k_s": TARGET_100K_S,
            "growth_exponent": TARGET_GROWTH_EXPONENT,
        },
    }
    progress(f"[start] bare interpreter (python -c pass) x{args.repeats} ...")
    bare = time_command([sys.executable, "-c", "pass"], args.repeats, args.timeout)
    report["meta"]["bare_interpreter_s"] = bare.median if bare.ok else None
    results = bench_specs(args, report)
    scaling = bench_scaling(args)
    targets = evaluate_targets(results, scaling, args.quick)
    report["meta"]["loadavg_end"] = loadavg()
    report["meta"]["bench_process_maxrss_kb"] = own_maxrss_kb()
    report["meta"]["elapsed_s"] = time.perf_counter() - started
    report["specs"] = results
    report["scaling"] = scaling
    report["targets"] = targets

    meta = report["meta"]
    keras_line = f"keras {meta['keras']} ({meta['keras_backend']} backend)" if "keras" in meta else "keras not measured"
    print(f"archdsl check speed: archdsl {meta['archdsl']}, Python {meta['python']}, {keras_line}")
    print(
        f"{meta['cpus']} CPUs, load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end;"
        f" {meta['elapsed_s']:.0f} s in all. Other processes may share the machine: figures are medians."
    )
    print(
        f"peak RSS figures are each child's own (os.wait4); the kernel counts the spawning process's"
        f" high-water mark ({mib(meta['bench_process_maxrss_kb'])} here) into it, so figures at that level are a floor."
    )
    print()
    print_specs(results, args, meta["bare_interpreter_s"])
    print_scaling(scaling, args)
    print_targets(targets)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
