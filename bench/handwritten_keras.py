"""Keras 3 models written by hand for the architectures in specs/: the baseline that
bench/forward_speed.py times archdsl's generated Keras code against.

Each model is what a Keras user would write for the spec with its default parameters:
``keras.Sequential`` for plain chains, the functional API where the graph branches (the
ResNet's skip connections), and a per-frame ``Sequential`` CNN wrapped in one
``TimeDistributed`` for the CNN+RNN hybrid. Shapes are channels-last, as in the specs.
(tests/keras_references.py holds reference models for every spec, which test_specs.py
checks counts against and check_speed.py times *building*; these are the forward-pass
baseline, written as idiomatic Keras, e.g. one TimeDistributed around a per-frame CNN.)

``MODELS`` maps a spec file's stem to a :class:`Reference`: the spec's model name, a
builder, and the per-example input shapes (no batch axis). When a spec changes, change its
model here too; the benchmark compares parameter counts and reports a mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers


@dataclass(frozen=True)
class Input:
    shape: tuple[int, ...]  # without the batch axis, channels-last
    dtype: str = "float32"
    high: int | None = None  # integer inputs (token ids) are drawn from [0, high)


@dataclass(frozen=True)
class Reference:
    model: str  # the model's name in the spec
    build: Callable[[], keras.Model]
    inputs: tuple[Input, ...]


# --------------------------------------------------------------------------- feed-forward


def mlp(inputs=784, hidden=128, classes=10, dropout=0.2):
    """specs/mlp.arch: 784 -> 128 (ReLU) -> dropout -> 64 (ReLU) -> dropout -> 10 (softmax)."""
    return keras.Sequential(
        [
            keras.Input(shape=(inputs,)),
            layers.Dense(hidden, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(hidden // 2, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def cnn(classes=10):
    """specs/cnn.arch: 3x3 convolutions of 32, 64, 64 filters, 2x2 max pooling after the first two."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def lenet5(classes=10):
    """specs/lenet5.arch: two 5x5 tanh convolution + average-pooling stages, then 120-84-10."""
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 1)),
            layers.Conv2D(6, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="tanh"),
            layers.Dense(84, activation="tanh"),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def _residual_block(x, filters, kernel_size=3):
    y = layers.Conv2D(filters, kernel_size, padding="same")(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, kernel_size, padding="same")(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([y, x]))


def resnet(classes=1000, blocks=3, filters=64):
    """specs/resnet.arch: 7x7/2 stem, 3x3/2 max pool, identity residual blocks, GAP, Dense(1000)."""
    image = keras.Input(shape=(224, 224, 3))
    x = layers.Conv2D(filters, 7, strides=2, padding="same")(image)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for _ in range(blocks):
        x = _residual_block(x, filters)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, layers.Dense(classes, activation="softmax")(x))


def conv_autoencoder(filters=16, code_filters=8):
    """specs/conv_autoencoder.arch: 28x28x1 -> 4x4x8 code -> 28x28x1."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(filters, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(code_filters, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(code_filters, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(code_filters, 3, activation="relu", padding="same"),
            layers.UpSampling2D(2),
            layers.Conv2D(code_filters, 3, activation="relu", padding="same"),
            layers.UpSampling2D(2),
            layers.Conv2D(filters, 3, activation="relu"),
            layers.UpSampling2D(2),
            layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
        ]
    )


# --------------------------------------------------------------------------- recurrent


def lstm(sequence_length=60, features=1, units=50, dropout=0.2):
    """specs/lstm.arch: three stacked LSTMs of 50 units with dropout, Dense(1)."""
    return keras.Sequential(
        [
            keras.Input(shape=(sequence_length, features)),
            layers.LSTM(units, return_sequences=True),
            layers.Dropout(dropout),
            layers.LSTM(units, return_sequences=True),
            layers.Dropout(dropout),
            layers.LSTM(units),
            layers.Dropout(dropout),
            layers.Dense(1),
        ]
    )


def gru(vocab_size=10000, embedding_dim=128, max_length=200, units=128):
    """specs/gru.arch: embedding, GRU(128) with input and recurrent dropout, sigmoid output."""
    return keras.Sequential(
        [
            keras.Input(shape=(max_length,), dtype="int32"),
            layers.Embedding(vocab_size, embedding_dim),
            layers.GRU(units, dropout=0.2, recurrent_dropout=0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def bidirectional(vocab_size=10000, embedding_dim=128, max_length=200, units=64):
    """specs/bidirectional.arch: embedding, bidirectional LSTM(64) (concatenated), dropout, sigmoid."""
    return keras.Sequential(
        [
            keras.Input(shape=(max_length,), dtype="int32"),
            layers.Embedding(vocab_size, embedding_dim),
            layers.Bidirectional(layers.LSTM(units)),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def cnn_rnn(classes=10, units=50, filters=32):
    """specs/cnn_rnn.arch: one small CNN on every 64x64 frame (TimeDistributed), LSTM(50), softmax."""
    frame_cnn = keras.Sequential(
        [
            keras.Input(shape=(64, 64, 3)),
            layers.Conv2D(filters, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(filters * 2, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
        ]
    )
    return keras.Sequential(
        [
            keras.Input(shape=(None, 64, 64, 3)),
            layers.TimeDistributed(frame_cnn),
            layers.LSTM(units),
            layers.Dense(classes, activation="softmax"),
        ]
    )


# spec file stem -> the hand-written model. Input shapes are the specs' defaults; where a spec
# leaves a length open (cnn_rnn's number of frames), the figure here is an example.
FRAMES = 8  # frames per clip for cnn_rnn (the spec's time axis is None)

MODELS: dict[str, Reference] = {
    "mlp": Reference("MLP", mlp, (Input((784,)),)),
    "cnn": Reference("CNN", cnn, (Input((28, 28, 1)),)),
    "lenet5": Reference("LeNet5", lenet5, (Input((32, 32, 1)),)),
    "resnet": Reference("ResNet", resnet, (Input((224, 224, 3)),)),
    "conv_autoencoder": Reference("ConvAutoencoder", conv_autoencoder, (Input((28, 28, 1)),)),
    "lstm": Reference("StackedLSTM", lstm, (Input((60, 1)),)),
    "gru": Reference("GRUClassifier", gru, (Input((200,), "int32", 10000),)),
    "bidirectional": Reference("BidirectionalLSTM", bidirectional, (Input((200,), "int32", 10000),)),
    "cnn_rnn": Reference("VideoClassifier", cnn_rnn, (Input((FRAMES, 64, 64, 3)),)),
}
