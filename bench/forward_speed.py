"""How fast are archdsl's generated models? A benchmark report, not a test: it times, prints and exits 0.

In one run, for both targets (PyTorch and Keras 3), it compiles each spec in specs/ that has
a hand-written equivalent (bench/handwritten_torch.py, bench/handwritten_keras.py) with
``python -m archdsl compile``, imports the generated module, builds the generated model and the
hand-written one, and times their forward passes on the same random batch:

- PyTorch: ``model.eval()``, ``torch.no_grad()``, a fixed ``torch.set_num_threads``;
- Keras: ``model(x, training=False)`` (or ``predict_on_batch`` with ``--keras-call predict``),
  TensorFlow's thread pools fixed to the same count; the same call style on both sides.

It prints, per model, the median time of one forward pass for the generated and the
hand-written model and their ratio (generated / hand-written; above 1 means the generated code
is slower), after checking that both have the same parameter count and output shape (a
mismatch is printed as a line, not raised). Generated and hand-written samples are interleaved
(G H, H G, G H, ...) so that drift in the machine's load hits both alike.

Each target runs in a subprocess of its own (this script with ``--worker``), so TensorFlow and
PyTorch never share a process or its thread pools. Run ``python bench/forward_speed.py --help``
for the options; see bench/README.md.
"""

from __future__ import annotations

import argparse
import ast
import collections
import gc
import importlib.util
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
from collections.abc import Callable
from pathlib import Path

from check_speed import table  # bench/ is on sys.path when a script there runs

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
SPECS = REPO / "specs"
for _path in (REPO, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGETS = ("torch", "keras")
DEFAULT_BATCH = 32
BATCH = {"resnet": 8, "cnn_rnn": 8}  # the big ones; everything else uses DEFAULT_BATCH
SLOW_RATIO = 1.3  # a generated model this much slower than the hand-written one is flagged


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------- worker: shared


def compile_spec(spec: Path, target: str, out_dir: Path, timeout: float) -> tuple[Path | None, str | None, list[str]]:
    """``python -m archdsl compile SPEC --target T -o FILE``: (file, failure, warnings)."""
    out = out_dir / f"{target}_{spec.stem}.py"
    argv = [sys.executable, "-m", "archdsl", "compile", str(spec), "--target", target, "-o", str(out)]
    try:
        run = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"`archdsl compile` timed out after {timeout:.0f} s", []
    messages = [line for line in (run.stdout + run.stderr).strip().splitlines() if line.strip()]
    if run.returncode != 0 or not out.exists():
        return (
            None,
            f"`archdsl compile --target {target}` failed (exit status {run.returncode}): " + " | ".join(messages[-3:]),
            [],
        )
    return out, None, [m.replace(f"{spec}: ", "") for m in messages if "warning" in m]


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def find_keras_builder(path: Path, module, model: str) -> Callable:
    """The generated ``build_<snake_name>()`` for `model`, found by reading the generated file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    builders = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("build_")]
    wanted = "build" + model.lower()
    matches = [b for b in builders if b.replace("_", "").lower() == wanted]
    if len(matches) != 1:
        raise LookupError(f"no unique builder for model {model} in the generated file (it has {', '.join(builders)})")
    return getattr(module, matches[0])


def find_torch_class(module, model: str):
    """The generated ``nn.Module`` subclass named after `model`."""
    from torch import nn

    classes = {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__
    }
    if model in classes:
        return classes[model]
    matches = [obj for name, obj in classes.items() if name.lower() == model.lower()]
    if len(matches) != 1:
        raise LookupError(f"no class for model {model} in the generated file (it has {', '.join(classes)})")
    return matches[0]


def measure(generated: Callable, handwritten: Callable, finish: Callable, args: argparse.Namespace) -> dict:
    """Median seconds per forward pass of two callables, sampled alternately.

    Each callable is warmed up, then both are timed once more to choose `loops`, the number of
    forward passes per timed sample (the same for both, so each sample lasts about
    --min-sample-ms); then `repeats` rounds each time one sample of each, in alternating order.
    `finish` is applied to the last output of a sample (it waits for the result to exist).
    """
    sides = {"generated": generated, "handwritten": handwritten}
    for _ in range(args.warmup):
        for fn in sides.values():
            finish(fn())
    once = {}
    for name, fn in sides.items():
        t0 = time.perf_counter()
        finish(fn())
        once[name] = time.perf_counter() - t0
    per_pass = (once["generated"] + once["handwritten"]) / 2
    loops = max(1, math.ceil(args.min_sample_ms / 1000 / max(per_pass, 1e-9)))
    runs: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    gc.collect()
    gc.disable()
    load_start = loadavg()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        for r in range(args.repeats):
            for name in order if r % 2 == 0 else order[::-1]:
                fn = sides[name]
                t0 = time.perf_counter()
                for _ in range(loops):
                    out = fn()
                finish(out)
                runs[name].append((time.perf_counter() - t0) / loops)
    finally:
        gc.enable()
    wall = time.perf_counter() - wall0
    result: dict = {
        "loops": loops,
        "cpu_per_wall": (time.process_time() - cpu0) / wall if wall > 0 else None,
        "loadavg": [load_start, loadavg()],
    }
    for name, values in runs.items():
        q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
        result[name] = {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "iqr_s": q[2] - q[0],
            "runs_s": values,
        }
    g, h = result["generated"], result["handwritten"]
    result["ratio"] = g["median_s"] / h["median_s"]
    result["ratio_min"] = g["min_s"] / h["min_s"]
    # each round's two samples are adjacent in time, so their ratio sees (nearly) the same load
    result["ratio_paired"] = statistics.median(a / b for a, b in zip(g["runs_s"], h["runs_s"], strict=True))
    return result


def run_worker(args: argparse.Namespace) -> int:
    """The --worker helper: time every covered spec for one target, print one JSON line."""
    target = args.worker
    setup, entry = (torch_setup, torch_entry) if target == "torch" else (keras_setup, keras_entry)
    meta, references = setup(args)
    wanted = set(args.specs.split(",")) if args.specs else None
    out: dict = {"meta": meta, "covered": sorted(references), "results": []}
    with tempfile.TemporaryDirectory(prefix=f"archdsl-forward-{target}-") as tmp:
        for stem, ref in references.items():
            if wanted is not None and stem not in wanted:
                continue
            spec = SPECS / f"{stem}.arch"
            batch = args.batch or BATCH.get(stem, DEFAULT_BATCH)
            row: dict = {"spec": stem, "model": ref.model, "batch": batch}
            out["results"].append(row)
            if not spec.exists():
                row["skipped"] = f"specs/{stem}.arch is not there"
                continue
            progress(f"[{target}] {stem}: compile ...")
            path, failure, warnings = compile_spec(spec, target, Path(tmp), args.timeout)
            row["compile_warnings"] = warnings
            if failure:
                row["error"] = failure
                continue
            model = spec_model(spec, ref.model)
            if model != ref.model:
                row["model"] = model
                row["note"] = f"the spec has no model {ref.model} (the hand-written one's name); timing {model}"
            progress(f"[{target}] {stem}: build and time ({model}, batch {batch}) ...")
            try:
                row.update(entry(stem, model, ref, path, batch, args))
            except Exception as exc:  # reported, not raised: one broken spec must not end the run
                row["error"] = f"{type(exc).__name__}: {exc}"
            gc.collect()
    print(json.dumps(out))
    return 0


def spec_model(spec: Path, wanted: str) -> str:
    """`wanted` if the spec defines it; else the spec's only model (it was renamed); else `wanted`."""
    from archdsl.api import check_file

    try:
        result = check_file(spec)
        models = list(result.program.models) if result.program is not None else []
    except Exception:  # the build will fail and say why
        return wanted
    return models[0] if wanted not in models and len(models) == 1 else wanted


def shapes(out) -> list[list[int]]:
    items = out if isinstance(out, (tuple, list)) else [out]
    return [list(item.shape) for item in items]


# --------------------------------------------------------------------------- worker: PyTorch


def torch_setup(args: argparse.Namespace):
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import handwritten_torch

    meta = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    return meta, handwritten_torch.MODELS


def torch_entry(stem: str, model: str, ref, path: Path, batch: int, args: argparse.Namespace) -> dict:
    import torch

    module = load_module(path, f"archdsl_generated_torch_{stem}")
    torch.manual_seed(0)
    generated = find_torch_class(module, model)().eval()
    handwritten = ref.build().eval()
    g = torch.Generator().manual_seed(0)
    xs = []
    for spec in ref.inputs:
        size = (batch, *spec.shape)
        if spec.high is not None:
            xs.append(torch.randint(0, spec.high, size, generator=g, dtype=spec.dtype))
        else:
            xs.append(torch.rand(size, generator=g, dtype=spec.dtype))
    row: dict = {"inputs": [[batch, *spec.shape] for spec in ref.inputs]}
    row["params_generated"] = sum(p.numel() for p in generated.parameters())
    row["params_handwritten"] = sum(p.numel() for p in handwritten.parameters())
    with torch.no_grad():
        row["output_generated"] = shapes(generated(*xs))
        row["output_handwritten"] = shapes(handwritten(*xs))
        row.update(measure(lambda: generated(*xs), lambda: handwritten(*xs), lambda out: out, args))
    return row


# --------------------------------------------------------------------------- worker: Keras


def keras_setup(args: argparse.Namespace):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    import handwritten_keras
    import keras

    meta = {"keras": keras.__version__, "keras_backend": keras.backend.backend(), "threads": args.threads}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        meta["tensorflow"] = tf.__version__
        meta["threads_actual"] = [
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ]
    return meta, handwritten_keras.MODELS


def keras_entry(stem: str, model: str, ref, path: Path, batch: int, args: argparse.Namespace) -> dict:
    import keras
    import numpy as np

    module = load_module(path, f"archdsl_generated_keras_{stem}")
    keras.utils.set_random_seed(0)
    generated = find_keras_builder(path, module, model)()
    handwritten = ref.build()
    rng = np.random.default_rng(0)
    arrays = []
    for spec in ref.inputs:
        size = (batch, *spec.shape)
        if spec.high is not None:
            arrays.append(rng.integers(0, spec.high, size).astype(spec.dtype))
        else:
            arrays.append(rng.random(size, dtype=np.float32).astype(spec.dtype))
    tensors = [keras.ops.convert_to_tensor(a) for a in arrays]
    x = tensors[0] if len(tensors) == 1 else tensors
    row: dict = {"inputs": [[batch, *spec.shape] for spec in ref.inputs]}
    row["params_generated"] = int(generated.count_params())
    row["params_handwritten"] = int(handwritten.count_params())
    if args.keras_call == "predict":
        data = arrays[0] if len(arrays) == 1 else arrays

        def call(model):
            return lambda: model.predict_on_batch(data)
    else:

        def call(model):
            return lambda: model(x, training=False)

    def finish(out):
        return keras.tree.map_structure(keras.ops.convert_to_numpy, out)

    row["output_generated"] = shapes(call(generated)())
    row["output_handwritten"] = shapes(call(handwritten)())
    row.update(measure(call(generated), call(handwritten), finish, args))
    return row


# --------------------------------------------------------------------------- parent


def run_target(target: str, args: argparse.Namespace) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", target]
    argv += ["-n", str(args.repeats), "--warmup", str(args.warmup), "--min-sample-ms", str(args.min_sample_ms)]
    argv += ["--threads", str(args.threads), "--keras-call", args.keras_call, "--timeout", str(args.timeout)]
    if args.batch:
        argv += ["--batch", str(args.batch)]
    if args.specs:
        argv += ["--specs", args.specs]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["MKL_NUM_THREADS"] = str(args.threads)
    progress(f"[{target}] starting the worker ...")
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: collections.deque[str] = collections.deque(maxlen=5)

    def relay() -> None:  # the worker's progress lines (all of stderr with -v) go on to ours
        for line in proc.stderr:
            if line.strip():
                tail.append(line.rstrip())
            if args.verbose or line.startswith(f"[{target}]"):
                sys.stderr.write(line)
                sys.stderr.flush()

    relay_thread = threading.Thread(target=relay, daemon=True)
    relay_thread.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(args.worker_timeout, kill)
    timer.start()
    try:
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        timer.cancel()
    relay_thread.join(timeout=5)
    if killed.is_set():
        return {"failure": f"the {target} worker timed out after {args.worker_timeout:.0f} s (--worker-timeout)"}
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"failure": f"the {target} worker crashed (exit status {proc.returncode}): " + " | ".join(tail)}


def fmt_ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    value = seconds * 1000
    digits = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} ms"


def print_target(n: int, target: str, report: dict, args: argparse.Namespace) -> None:
    meta = report.get("meta", {})
    if target == "torch":
        what = f"PyTorch {meta.get('torch', '?')}: model.eval(), torch.no_grad(), {meta.get('threads', '?')} thread(s)"
    else:
        call = "model.predict_on_batch(x)" if args.keras_call == "predict" else "model(x, training=False)"
        what = f"Keras {meta.get('keras', '?')} ({meta.get('keras_backend', '?')} backend): {call}, "
        what += f"{meta.get('threads', '?')} thread(s)"
    print(f"{n}. {what}")
    if "failure" in report:
        print(f"   FAILED: {report['failure']}")
        print()
        return
    rows = [
        [
            "spec",
            "model",
            "input",
            "params",
            "generated",
            "hand-written",
            "ratio",
            "paired",
            "ratio of mins",
            "IQR g/h",
            "loops",
            "cpu/wall",
            "",
        ]
    ]
    notes = []
    for r in report["results"]:
        name = r["spec"]
        if "note" in r:
            notes.append(f"   {name}: {r['note']}")
        if "skipped" in r:
            notes.append(f"   {name}: skipped: {r['skipped']}")
            continue
        if "error" in r:
            notes.append(f"   {name}: FAILED: {r['error']}")
            continue
        g, h = r["generated"], r["handwritten"]
        match = r["params_generated"] == r["params_handwritten"]
        if not match:
            notes.append(
                f"   {name}: parameter MISMATCH: generated {r['params_generated']:,}"
                f" != hand-written {r['params_handwritten']:,}"
                f" (difference {r['params_generated'] - r['params_handwritten']:+,})"
            )
        if r["output_generated"] != r["output_handwritten"]:
            notes.append(
                f"   {name}: output shape MISMATCH: generated {r['output_generated']}"
                f" != hand-written {r['output_handwritten']}"
            )
        for warning in r.get("compile_warnings", []):
            notes.append(f"   {name}: compile {warning}")
        iqr = f"{100 * g['iqr_s'] / g['median_s']:.0f}%/{100 * h['iqr_s'] / h['median_s']:.0f}%"
        rows.append(
            [
                name,
                r["model"],
                "x".join(str(d) for d in r["inputs"][0]),
                f"{r['params_generated']:,}" if match else "MISMATCH",
                fmt_ms(g["median_s"]),
                fmt_ms(h["median_s"]),
                f"{r['ratio']:.2f}",
                f"{r['ratio_paired']:.2f}",
                f"{r['ratio_min']:.2f}",
                iqr,
                str(r["loops"]),
                "-" if r["cpu_per_wall"] is None else f"{r['cpu_per_wall']:.2f}",
                "SLOWER" if r["ratio"] > SLOW_RATIO else "",
            ]
        )
    if len(rows) > 1:
        print(table(rows, right={3, 4, 5, 6, 7, 8, 9, 10, 11}))
    for note in notes:
        print(note)
    print()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n", "--repeats", type=int, help="timed samples per model and side (default 11; 5 with --quick)"
    )
    parser.add_argument("--warmup", type=int, help="untimed forward passes per model first (default 3; 1 with --quick)")
    parser.add_argument(
        "--min-sample-ms",
        type=float,
        help="forward passes are repeated within a sample until it lasts about this long (default 200; 50 with --quick)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch / TensorFlow CPU threads, both targets (1)")
    parser.add_argument(
        "--batch", type=int, help=f"batch size for every model (default {DEFAULT_BATCH}; 8 for resnet, cnn_rnn)"
    )
    parser.add_argument("--specs", help="comma-separated spec stems to time (default: every covered spec)")
    parser.add_argument("--target", choices=("torch", "keras", "both"), default="both", help="which target(s) (both)")
    parser.add_argument(
        "--keras-call",
        choices=("call", "predict"),
        default="call",
        help="Keras call style: eager model(x, training=False), or compiled predict_on_batch (call)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer and shorter samples: a rough figure in a few minutes"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every figure (and every sample) to PATH as JSON")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before `archdsl compile` is killed (300)")
    parser.add_argument(
        "--worker-timeout", type=float, default=3600.0, help="seconds before a target's worker is killed"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show all of the workers' stderr (TensorFlow's logs)"
    )
    parser.add_argument("--worker", choices=TARGETS, help=argparse.SUPPRESS)  # internal: see run_worker
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 5 if args.quick else 11
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.min_sample_ms is None:
        args.min_sample_ms = 50.0 if args.quick else 200.0
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1 or (args.batch is not None and args.batch < 1):
        parser.error("repeats, threads and batch must be at least 1, warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    from archdsl import __version__

    started = time.perf_counter()
    targets = TARGETS if args.target == "both" else (args.target,)
    report: dict = {
        "meta": {
            "archdsl": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg(),
            "repeats": args.repeats,
            "warmup": args.warmup,
            "min_sample_ms": args.min_sample_ms,
            "threads": args.threads,
            "keras_call": args.keras_call,
            "quick": args.quick,
            "slow_ratio": SLOW_RATIO,
        },
        "targets": {},
    }
    for target in targets:
        report["targets"][target] = run_target(target, args)
    meta = report["meta"]
    meta["loadavg_end"] = loadavg()
    meta["elapsed_s"] = time.perf_counter() - started

    print(
        f"forward-pass speed: archdsl {meta['archdsl']} generated models vs hand-written ones, Python {meta['python']}"
    )
    print(
        f"{meta['cpus']} CPUs, load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end;"
        f" {meta['elapsed_s']:.0f} s in all. Other processes may share the machine: compare runs only on a quiet one."
    )
    print(
        f"Each figure: the median of {args.repeats} samples of one forward pass (a sample = `loops` passes / loops,"
        f" about {args.min_sample_ms:.0f} ms), after {args.warmup} warm-up pass(es);"
    )
    print(
        "generated and hand-written samples alternate (G H, H G, ...) on the same random batch;"
        f" ratio = generated median / hand-written median (> 1: generated slower; SLOWER above {SLOW_RATIO});"
    )
    print(
        "paired = the median over rounds of each round's generated / hand-written (adjacent samples: load drift"
        " cancels); ratio of mins = the same for the fastest samples;"
    )
    print(
        f"IQR = interquartile range / median; cpu/wall = CPU time / wall time while timing (near {args.threads} with"
        f" {args.threads} thread(s); well below it: waiting for a CPU)."
    )
    print()
    covered: set[str] = set()
    for n, target in enumerate(targets, 1):
        covered.update(report["targets"][target].get("covered", []))
        print_target(n, target, report["targets"][target], args)
    present = sorted(p.stem for p in SPECS.glob("*.arch"))
    uncovered = [stem for stem in present if stem not in covered]
    if uncovered and not args.specs:
        print(f"specs with no hand-written equivalent (not timed): {', '.join(uncovered)}")
    slow = [
        f"{target} {r['spec']} ({r['ratio']:.2f}x)"
        for target, t in report["targets"].items()
        for r in t.get("results", [])
        if "ratio" in r and r["ratio"] > SLOW_RATIO
    ]
    print(f"generated clearly slower (ratio > {SLOW_RATIO}): {', '.join(slow) if slow else 'none'}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
