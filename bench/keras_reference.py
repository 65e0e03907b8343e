"""Keras 3 builders for the architectures in specs/, written by hand from the .arch files.

Used by bench/check_speed.py as the baseline a framework user pays to learn a model's
parameter count: a fresh interpreter, ``import keras``, build the model, ``count_params()``.

    python bench/keras_reference.py resnet

prints one JSON line on stdout: the parameter count, the time spent importing Keras and
building the model (both measured inside this process), the Keras version and backend.
Each builder mirrors its spec with the spec's default parameters; keep them in step when a
spec changes (check_speed.py compares the parameter counts and reports any mismatch).
"""

from __future__ import annotations

import json
import sys
import time


def mlp(keras, inputs=784, hidden=128, classes=10, dropout=0.2):
    """specs/mlp.arch: 784 -> Dense(128, relu) -> Dropout -> Dense(64, relu) -> Dropout -> Dense(10)."""
    layers = keras.layers
    pixels = keras.Input(shape=(inputs,))
    x = layers.Dense(hidden, activation="relu")(pixels)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(hidden // 2, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(pixels, out, name="MLP")


def cnn(keras, classes=10):
    """specs/cnn.arch: three 3x3 convolutions (32, 64, 64) with 2x2 max pooling after the first two."""
    layers = keras.layers
    image = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(image, out, name="CNN")


def lenet5(keras, classes=10):
    """specs/lenet5.arch: two 5x5 tanh convolution + average-pooling stages, then 120-84-classes."""
    layers = keras.layers
    image = keras.Input(shape=(32, 32, 1))
    x = layers.Conv2D(6, 5, activation="tanh")(image)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(image, out, name="LeNet5")


def _residual_block(keras, x, filters, kernel_size=3):
    layers = keras.layers
    y = layers.Conv2D(filters, kernel_size, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, kernel_size, padding="same")(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([y, x]))


def resnet(keras, classes=1000, blocks=3, filters=64):
    """specs/resnet.arch: 7x7/2 stem, 3x3/2 max pool, identity residual blocks, GAP, Dense(1000)."""
    layers = keras.layers
    image = keras.Input(shape=(224, 224, 3))
    x = layers.Conv2D(filters, 7, strides=2, padding="same")(image)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for _ in range(blocks):
        x = _residual_block(keras, x, filters)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(image, out, name="ResNet")


# spec file stem -> builder
BUILDERS = {"mlp": mlp, "cnn": cnn, "lenet5": lenet5, "resnet": resnet}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in BUILDERS:
        print(f"usage: keras_reference.py {{{','.join(sorted(BUILDERS))}}}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import keras

    t1 = time.perf_counter()
    model = BUILDERS[argv[0]](keras)
    params = int(model.count_params())
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
