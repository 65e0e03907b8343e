"""The Keras side of bench/check_speed.py: build every model of one spec with Keras 3.

This is the baseline a framework user pays to learn what ``archdsl check`` tells them (the
models' sizes): a fresh interpreter, ``import keras``, build each model, ``count_params()``.
The models are the hand-written references of tests/keras_references.py, the ones
tests/test_specs.py checks archdsl's counts against, so there is one copy to keep in step
with specs/.

    python bench/keras_reference.py resnet

prints one JSON line on stdout: each model's parameter count, the time spent importing
Keras and building the models (both measured inside this process), the Keras version and
backend.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: keras_reference.py SPEC_STEM (e.g. resnet)", file=sys.stderr)
        return 2
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import keras

    t1 = time.perf_counter()
    from tests.keras_references import REFERENCES

    builders = {name: build for (spec, name), build in REFERENCES.items() if spec == argv[0] + ".arch"}
    if not builders:
        print(
            f"keras_reference.py: no reference models for specs/{argv[0]}.arch in tests/keras_references.py",
            file=sys.stderr,
        )
        return 2
    params = {name: int(build().count_params()) for name, build in builders.items()}
    t2 = time.perf_counter()
    report = {
        "spec": argv[0],
        "params": params,
        "import_s": t1 - t0,
        "build_s": t2 - t1,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
