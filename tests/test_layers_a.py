"""Layer catalogue, part A: core, activation, reshaping, convolution, pooling, normalization, embedding.

Every shape/count case is checked against Keras 3 itself (and BatchNormalization and a few
others against PyTorch): archdsl's output shape, dtype and weight counts must equal what the
real layer reports. Error cases check the exact user-facing messages.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archdsl.ir import TensorType  # noqa: E402
from archdsl.layers import CATALOGUE  # noqa: E402
from archdsl.layers.apply import BindError, layer  # noqa: E402
from archdsl.layers.base import ShapeError  # noqa: E402


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def case(name, shape, *args, dtype="float32", **kwargs):
    text = ",".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return pytest.param(name, tuple(shape), dtype, args, kwargs, id=f"{name}{tuple(shape)}({text})".replace(" ", ""))


CASES = [
    # core
    case("Dense", (5, 7), 3),
    case("Dense", (7,), 1, activation="softmax", use_bias=False),
    case("Dropout", (10, 4), 0.5),
    case("Dropout", (None, 4), 0.25, seed=3),
    # activations
    case("Activation", (3, 4), "relu"),
    case("Activation", (8,), "softmax"),
    case("ReLU", (6, 2)),
    case("ReLU", (6,), max_value=6.0, negative_slope=0.1, threshold=0.5),
    case("LeakyReLU", (4, 4, 3)),
    case("LeakyReLU", (9,), 0.2),
    case("ELU", (5,), alpha=0.5),
    case("Softmax", (3, 4)),
    case("Softmax", (3, 4), axis=1),
    # reshaping
    case("Flatten", (4, 5, 3)),
    case("Flatten", (None, 3)),
    case("Flatten", ()),
    case("Flatten", (2, 3), dtype="int32"),
    case("Reshape", (4, 6), (8, 3)),
    case("Reshape", (4, 6), (-1, 3)),
    case("Reshape", (4, 6, 2), (2, -1, 2)),
    case("Reshape", ("T", 6), (-1, 2)),
    case("Reshape", (12,), (3, 4), dtype="int32"),
    case("Permute", (3, 4), (2, 1)),
    case("Permute", (3, 4, 5), (3, 1, 2)),
    case("Permute", (2, 3), (2, 1), dtype="int64"),
    case("RepeatVector", (16,), 5),
    case("UpSampling1D", (7, 3)),
    case("UpSampling1D", (None, 3), size=3),
    case("UpSampling2D", (5, 7, 3)),
    case("UpSampling2D", (5, 7, 3), size=(3, 1), interpolation="bilinear"),
    case("UpSampling3D", (2, 3, 4, 1), size=(1, 2, 3)),
    case("ZeroPadding1D", (4, 3), (1, 2)),
    case("ZeroPadding2D", (5, 5, 3)),
    case("ZeroPadding2D", (5, 6, 3), (2, 0)),
    case("ZeroPadding2D", (5, 6, 3), ((1, 2), (3, 4))),
    case("ZeroPadding3D", (2, 3, 4, 1), 2),
    case("Cropping1D", (9, 3), (2, 3)),
    case("Cropping2D", (8, 9, 3)),
    case("Cropping2D", (8, 9, 3), ((1, 2), (3, 4))),
    case("Cropping2D", (None, 9, 3), 2),
    case("Cropping3D", (5, 6, 7, 2)),
    # convolutions
    case("Conv1D", (10, 3), 8, 3),
    case("Conv1D", (11, 3), 8, 4, strides=2, padding="same"),
    case("Conv1D", (11, 3), 8, 3, padding="causal", dilation_rate=2),
    case("Conv1D", (11, 4), 6, 3, strides=3, groups=2, use_bias=False),
    case("Conv1D", (None, 5), 4, 3, strides=2),
    case("Conv2D", (28, 28, 1), 32, 3),
    case("Conv2D", (27, 27, 3), 16, 3, strides=2, padding="same"),
    case("Conv2D", (27, 27, 3), 16, 3, strides=2),
    case("Conv2D", (27, 26, 3), 16, (5, 3), strides=(3, 2), padding="same", use_bias=False),
    case("Conv2D", (32, 32, 3), 8, 3, dilation_rate=2),
    case("Conv2D", (31, 32, 3), 8, (3, 2), padding="same", dilation_rate=(2, 3)),
    case("Conv2D", (16, 16, 8), 12, 3, groups=4),
    case("Conv2D", (None, 20, 3), 4, 1, activation="relu"),
    case("Conv2D", (9, 9, 3), 1, 3, activation="softmax"),
    case("Conv3D", (8, 9, 10, 2), 4, 3),
    case("Conv3D", (8, 9, 10, 2), 4, (3, 2, 1), strides=(2, 1, 3), padding="same"),
    case("Conv3D", (9, 9, 9, 4), 6, 2, dilation_rate=(1, 2, 3), groups=2),
    case("Conv1DTranspose", (10, 3), 5, 3),
    case("Conv1DTranspose", (10, 3), 5, 4, strides=3, padding="same", output_padding=2),
    case("Conv2DTranspose", (7, 7, 8), 4, 3),
    case("Conv2DTranspose", (7, 7, 8), 4, 3, strides=2, padding="same"),
    case("Conv2DTranspose", (7, 7, 8), 4, 3, strides=2, padding="valid"),
    case("Conv2DTranspose", (7, 7, 8), 4, 2, strides=3, padding="valid"),
    case("Conv2DTranspose", (5, 7, 3), 4, 3, strides=3, padding="same", output_padding=(1, 2)),
    case("Conv2DTranspose", (5, 7, 3), 4, 4, strides=2, padding="valid", output_padding=1, use_bias=False),
    case("Conv2DTranspose", (5, 5, 3), 4, 3, dilation_rate=2),
    case("Conv2DTranspose", (5, 5, 3), 4, 3, padding="same", dilation_rate=2, output_padding=0),
    case("Conv2DTranspose", (None, 6, 3), 2, 3, strides=2),
    case("Conv3DTranspose", (3, 4, 5, 2), 3, 3, strides=(1, 2, 2), padding="same"),
    case("DepthwiseConv1D", (12, 4), 3, depth_multiplier=2),
    case("DepthwiseConv2D", (32, 32, 3), 3),
    case("DepthwiseConv2D", (31, 31, 3), 3, strides=2, padding="same", depth_multiplier=4, use_bias=False),
    case("DepthwiseConv2D", (32, 32, 3), (3, 5), dilation_rate=2),
    case("DepthwiseConv2D", (32, 32, 3), 3, strides=2, dilation_rate=2),
    case("SeparableConv1D", (20, 6), 8, 5, strides=2),
    case("SeparableConv2D", (32, 32, 3), 16, 3),
    case("SeparableConv2D", (33, 33, 3), 16, 3, strides=2, padding="same", depth_multiplier=3),
    case("SeparableConv2D", (33, 33, 4), 8, 3, dilation_rate=3, use_bias=False),
    # pooling
    case("MaxPooling1D", (10, 3)),
    case("MaxPooling1D", (11, 3), 3, strides=2, padding="same"),
    case("MaxPooling2D", (28, 28, 8)),
    case("MaxPooling2D", (7, 7, 8), 2, padding="same"),
    case("MaxPooling2D", (7, 9, 8), (3, 2), strides=(2, 3)),
    case("MaxPooling2D", (None, 9, 8), 3, strides=1),
    case("MaxPooling3D", (6, 7, 8, 2), 2, padding="same"),
    case("AveragePooling1D", (9, 4), 3),
    case("AveragePooling2D", (9, 9, 4), 3, strides=2),
    case("AveragePooling2D", (9, 10, 4), (2, 3), strides=(2, 2), padding="same"),
    case("AveragePooling3D", (5, 5, 5, 1), 3, strides=1),
    case("GlobalMaxPooling1D", (10, 7)),
    case("GlobalMaxPooling2D", (5, 6, 7), keepdims=True),
    case("GlobalMaxPooling3D", (2, 3, 4, 5)),
    case("GlobalAveragePooling1D", (None, 7), keepdims=True),
    case("GlobalAveragePooling2D", (5, 6, 7)),
    case("GlobalAveragePooling3D", (2, 3, 4, 5), keepdims=True),
    # normalization
    case("BatchNormalization", (8, 8, 16)),
    case("BatchNormalization", (10,), center=False),
    case("BatchNormalization", (8, 8, 16), scale=False, momentum=0.9, epsilon=1e-5),
    case("BatchNormalization", (6, 3, 2), axis=1),
    case("BatchNormalization", (6, 3, 2), center=False, scale=False),
    case("LayerNormalization", (5, 32)),
    case("LayerNormalization", (5, 32), axis=(1, 2)),
    case("LayerNormalization", (5, 4, 3), axis=(-3, -1), center=False),
    case("LayerNormalization", (None, 32), scale=False, epsilon=1e-6),
    # embedding
    case("Embedding", (20,), 1000, 64, dtype="int32"),
    case("Embedding", (), 50, 8, dtype="int64"),
    case("Embedding", (3, 4), 10, 5, "glorot_uniform", dtype="int32", mask_zero=True),
    case("Embedding", ("T",), 7, 3, dtype="int32"),
]


FAMILIES = {"core", "activation", "reshaping", "convolution", "pooling", "normalization", "embedding"}


def _plain(shape):
    """Named dimensions ("T") are unknown to Keras."""
    return tuple(d if isinstance(d, int) else None for d in shape)


def _keras_result(keras, name, shape, dtype, args, kwargs):
    inp = keras.Input(shape=_plain(shape), dtype=dtype)
    lyr = getattr(keras.layers, name)(*args, **kwargs)
    out = lyr(inp)
    model = keras.Model(inp, out)
    trainable = sum(int(np.prod(w.shape)) for w in lyr.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in lyr.non_trainable_weights)
    assert model.count_params() == trainable + non_trainable
    return tuple(out.shape[1:]), out.dtype, trainable, non_trainable


def test_cases_cover_every_layer_of_part_a():
    covered = {c.values[0] for c in CASES}
    mine = {n for n, s in CATALOGUE.items() if s.family in FAMILIES}
    assert mine <= covered, sorted(mine - covered)
    assert len(CASES) >= 60


@pytest.mark.keras
@pytest.mark.parametrize("name, shape, dtype, args, kwargs", CASES)
def test_matches_keras(keras, name, shape, dtype, args, kwargs):
    ours = layer(name, TensorType(shape, dtype), args=args, **kwargs)
    (out,) = ours.outputs
    k_shape, k_dtype, k_trainable, k_non_trainable = _keras_result(keras, name, shape, dtype, args, kwargs)
    assert _plain(out.shape) == k_shape
    assert out.dtype == k_dtype
    assert (ours.params.trainable, ours.params.non_trainable) == (k_trainable, k_non_trainable)


@pytest.mark.keras
@pytest.mark.parametrize("name, shape, dtype, args, kwargs", CASES)
def test_frozen_layers_count_everything_non_trainable(keras, name, shape, dtype, args, kwargs):
    ours = layer(name, TensorType(shape, dtype), args=args, trainable=False, **kwargs)
    k_shape, _, k_trainable, k_non_trainable = _keras_result(
        keras, name, shape, dtype, args, dict(kwargs, trainable=False)
    )
    assert (ours.params.trainable, ours.params.non_trainable) == (k_trainable, k_non_trainable)


TORCH_CASES = [
    ("BatchNormalization", (8, 8, 16), (), {}, lambda nn: nn.BatchNorm2d(16)),
    ("BatchNormalization", (10,), (), {}, lambda nn: nn.BatchNorm1d(10)),
    ("BatchNormalization", (4, 4, 4, 6), (), {}, lambda nn: nn.BatchNorm3d(6)),
    ("BatchNormalization", (8, 8, 16), (), {"center": False, "scale": False},
     lambda nn: nn.BatchNorm2d(16, affine=False)),
    ("LayerNormalization", (5, 32), (), {}, lambda nn: nn.LayerNorm(32)),
    ("LayerNormalization", (5, 32), (), {"axis": (-2, -1)}, lambda nn: nn.LayerNorm((5, 32))),
    ("LayerNormalization", (5, 32), (), {"center": False}, lambda nn: nn.LayerNorm(32, bias=False)),
    ("Conv2D", (28, 28, 3), (32, 3), {}, lambda nn: nn.Conv2d(3, 32, 3)),
    ("Conv2D", (28, 28, 4), (8, 3), {"groups": 2}, lambda nn: nn.Conv2d(4, 8, 3, groups=2)),
    ("Conv1D", (28, 4), (8, 5), {"use_bias": False}, lambda nn: nn.Conv1d(4, 8, 5, bias=False)),
    ("Conv2DTranspose", (7, 7, 8), (4, 3), {}, lambda nn: nn.ConvTranspose2d(8, 4, 3)),
    ("Conv3D", (8, 8, 8, 2), (4, 3), {}, lambda nn: nn.Conv3d(2, 4, 3)),
    ("DepthwiseConv2D", (9, 9, 3), (3,), {"depth_multiplier": 2}, lambda nn: nn.Conv2d(3, 6, 3, groups=3)),
    ("Embedding", (20,), (1000, 64), {}, lambda nn: nn.Embedding(1000, 64)),
]  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("name, shape, args, kwargs, build", TORCH_CASES, ids=lambda v: None)
def test_matches_torch(torch, name, shape, args, kwargs, build):
    dtype = "int32" if name == "Embedding" else "float32"
    params = layer(name, TensorType(shape, dtype), args=args, **kwargs).params
    module = build(torch.nn)
    assert params.torch_parameters == sum(p.numel() for p in module.parameters())
    assert params.buffers == sum(b.numel() for b in module.buffers())


def test_batch_norm_counts_differ_between_keras_and_torch():
    params = layer("BatchNormalization", (8, 8, 16)).params
    assert (params.trainable, params.non_trainable) == (32, 32)
    assert (params.torch_parameters, params.buffers) == (32, 33)


# --- output sizes over many sizes, against Keras's own arithmetic ----------------------------


@pytest.mark.keras
@settings(max_examples=150, deadline=None)
@given(
    length=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", "causal"]),
    transpose=st.booleans(),
    output_padding=st.one_of(st.none(), st.integers(0, 3)),
)
def test_conv1d_lengths_match_keras(keras, length, kernel, stride, dilation, padding, transpose, output_padding):
    if stride > 1:
        dilation = 1
    if transpose:
        padding = "valid" if padding == "causal" else padding
        if output_padding is not None:
            output_padding = min(output_padding, stride - 1)
        name, kwargs = "Conv1DTranspose", {"output_padding": output_padding}
    else:
        name, kwargs = "Conv1D", {}
    kwargs.update(strides=stride, padding=padding, dilation_rate=dilation)
    try:
        ours = _plain(layer(name, (length, 2), args=(3, kernel), **kwargs).outputs[0].shape)
    except ShapeError:
        ours = None
    try:
        theirs = tuple(getattr(keras.layers, name)(3, kernel, **kwargs).compute_output_shape((None, length, 2))[1:])
        if theirs[0] <= 0:
            theirs = None
    except ValueError:
        theirs = None
    assert ours == theirs


@pytest.mark.keras
@settings(max_examples=100, deadline=None)
@given(
    length=st.integers(1, 40),
    pool=st.integers(1, 5),
    stride=st.one_of(st.none(), st.integers(1, 4)),
    padding=st.sampled_from(["valid", "same"]),
)
def test_pool_lengths_match_keras(keras, length, pool, stride, padding):
    try:
        ours = _plain(layer("MaxPooling1D", (length, 2), args=(pool, stride, padding)).outputs[0].shape)
    except ShapeError:
        ours = None
    try:
        theirs = tuple(keras.layers.MaxPooling1D(pool, stride, padding).compute_output_shape((None, length, 2))[1:])
        if theirs[0] <= 0:
            theirs = None
    except ValueError:
        theirs = None
    assert ours == theirs


# --- errors and warnings ----------------------------------------------------------------------

ERRORS = [
    (
        "Conv2D", [(784,)], (32, 3), {},
        "Conv2D expects input of rank 3 (height, width, channels), got rank 1 with shape (784,)",
        ...,  # hints of the shared input checks belong to apply.py
    ),
    (
        "Conv2D", [(28, 28, None)], (32, 3), {},
        "Conv2D needs a known number of channels (the last axis), got input shape (28, 28, None)",
        "inputs are channels-last; give the last axis a fixed size",
    ),
    (
        "Conv2D", [(16, 16, 8)], (6, 3), {"groups": 4},
        "Conv2D: filters=6 is not divisible by groups=4",
        "each group produces filters / groups output channels",
    ),
    (
        "Conv2D", [(16, 16, 6)], (8, 3), {"groups": 4},
        "Conv2D: the input's 6 channels are not divisible by groups=4; input shape (16, 16, 6)",
        "each group reads channels / groups input channels",
    ),
    (
        "Reshape", [(4, 6)], ((5, 3),), {},
        "Reshape cannot turn input shape (4, 6) (24 elements) into target shape (5, 3) (15 elements)",
        "reshaping keeps the number of elements; write -1 for one size to have it inferred",
    ),
    (
        "Reshape", [(4, 6)], ((-1, 7),), {},
        "Reshape cannot fill the -1 in target shape (-1, 7): input shape (4, 6) has 24 elements, "
        "which is not a multiple of 7",
        "the product of the other target sizes must divide the number of elements",
    ),
    (
        "Reshape", [(4, 6)], ((-1, -1),), {},
        "Reshape: 'target_shape' must be a tuple of positive sizes, at most one of them -1, got a tuple ((-1, -1))",
        "only one size can be -1",
    ),
    (
        "Permute", [(3, 4, 5)], ((1, 3),), {},
        "Permute dims (1, 3) are not a permutation of 1..3 for input of rank 3 with shape (3, 4, 5)",
        "dims count from 1 (the batch is axis 0) and name every axis once, e.g. (2, 1) swaps two axes",
    ),
    (
        "Permute", [(3, 4)], ((0, 1),), {},
        "Permute: 'dims' must be a tuple of axis numbers counted from 1, got a tuple ((0, 1))",
        None,
    ),
    (
        "MaxPooling2D", [(1, 1, 3)], (), {},
        "MaxPooling2D output would have shape (0, 0, 3): a dimension of 0",
        ...,
    ),
    (
        "Conv2D", [(2, 5, 3)], (4, 3), {},
        "Conv2D output would have shape (0, 3, 4): a dimension of 0",
        ...,
    ),
    (
        "Embedding", [(20,)], (1000, 64), {},
        "Embedding expects integer input (token ids), got float32 with shape (20,)",
        ...,
    ),
    (
        "Dense", [TensorType((20,), "int32")], (4,), {},
        "Dense expects float input, got int32 with shape (20,)",
        ...,
    ),
    (
        "Conv2D", [(32, 32, 3)], (8, 3), {"strides": 2, "dilation_rate": 2},
        "Conv2D: strides (2, 2) and dilation_rate (2, 2) cannot both be greater than 1",
        "Keras does not support strided dilated convolutions; use strides=1 with the dilation "
        "and downsample with a separate layer",
    ),
    (
        "Conv1DTranspose", [(10, 3)], (4, 3), {"strides": 2, "dilation_rate": 3},
        "Conv1DTranspose: strides (2,) and dilation_rate (3,) cannot both be greater than 1",
        "Keras does not support strided dilated convolutions; use strides=1 with the dilation "
        "and downsample with a separate layer",
    ),
    (
        "Conv2DTranspose", [(5, 5, 3)], (4, 3), {"strides": 2, "output_padding": (1, 2)},
        "Conv2DTranspose: output_padding (1, 2) must be less than strides (2, 2) along every axis",
        "output_padding only picks among the output sizes a stride allows",
    ),
    (
        "Conv2D", [(28, 28, 1)], (32, 3), {"kernel_sise": 3},
        "Conv2D has no parameter 'kernel_sise'",
        "did you mean 'kernel_size'?",
    ),
    (
        "Conv2D", [(28, 28, 1)], (32,), {"kernel_size": "3"},
        "Conv2D: 'kernel_size' must be a positive integer or a tuple of 2 of them, got a string (\"3\")",
        None,
    ),
    (
        "Dropout", [(10,)], (1.5,), {},
        "Dropout: 'rate' must be a number in [0, 1), got a number (1.5)",
        None,
    ),
    (
        "Conv2D", [(28, 28, 1)], (32, 3), {"padding": "causal"},
        "Conv2D: 'padding' must be one of \"valid\", \"same\", got a string (\"causal\")",
        None,
    ),
    (
        "Activation", [(10,)], ("rleu",), {},
        "Activation: 'activation' must be an activation name such as \"relu\", got a string (\"rleu\")",
        'did you mean "relu"?',
    ),
    (
        "Cropping2D", [(4, 6, 3)], (((2, 2), (0, 0)),), {},
        "Cropping2D crops 2 + 2 from the height axis of size 4, leaving nothing: input shape (4, 6, 3)",
        "the amounts cropped along each axis must add up to less than its size",
    ),
    (
        "RepeatVector", [(4, 5)], (3,), {},
        "RepeatVector expects input of rank 1 (features,), got rank 2 with shape (4, 5)",
        ...,  # hints of the shared input checks belong to apply.py
    ),
    (
        "Softmax", [(3, 4)], (), {"axis": 0},
        "Softmax: axis=0 is the batch axis; the input shape (3, 4) excludes it",
        "axes count the batch as axis 0: axis=1 is the first axis of the shape and axis=-1 the last",
    ),
    (
        "BatchNormalization", [(3, 4)], (), {"axis": 3},
        "BatchNormalization: axis=3 is out of range for input of rank 2 with shape (3, 4)",
        "valid axes are 1 to 2 or -1 to -2",
    ),
    (
        "BatchNormalization", [(3, None)], (), {},
        "BatchNormalization needs a known size along axis -1, got input shape (3, None)",
        "the normalised axis holds one weight per entry, so its size must be fixed",
    ),
    (
        "LayerNormalization", [(3, 4)], (), {"axis": (1, -2)},
        "LayerNormalization: axis (1, -2) names the same axis twice for input shape (3, 4)",
        None,
    ),
]  # fmt: skip


@pytest.mark.parametrize("name, inputs, args, kwargs, message, hint", ERRORS)
def test_error_messages(name, inputs, args, kwargs, message, hint):
    with pytest.raises((ShapeError, BindError)) as info:
        layer(name, *inputs, args=args, **kwargs)
    assert info.value.message == message
    if hint is not ...:
        assert info.value.hint == hint


@pytest.mark.parametrize(
    "name, shape, args, kwargs, message",
    [
        ("Softmax", (10, 1), (), {}, "Softmax: softmax over an axis of size 1 always returns 1.0 (axis -1 of shape (10, 1))"),
        ("Softmax", (1, 10), (), {"axis": 1}, "Softmax: softmax over an axis of size 1 always returns 1.0 (axis 1 of shape (1, 10))"),
        ("Activation", (1,), ("softmax",), {}, "Activation: softmax over an axis of size 1 always returns 1.0 (axis -1 of shape (1,))"),
        ("Activation", (4, 1), ("log_softmax",), {}, "Activation: log_softmax over an axis of size 1 always returns 0.0 (axis -1 of shape (4, 1))"),
        ("Dense", (8,), (1,), {"activation": "softmax"}, "Dense: softmax over an axis of size 1 always returns 1.0 (axis -1 of shape (1,))"),
        ("Conv2D", (9, 9, 3), (1, 3), {"activation": "softmax"}, "Conv2D: softmax over an axis of size 1 always returns 1.0 (axis -1 of shape (7, 7, 1))"),
    ],
)  # fmt: skip
def test_softmax_over_size_one_warns(name, shape, args, kwargs, message):
    applied = layer(name, shape, args=args, **kwargs)
    assert applied.warnings == (
        (message, 'for a single yes/no output use activation="sigmoid"; otherwise apply the softmax over an axis with several entries'),
    )  # fmt: skip


@pytest.mark.parametrize(
    "name, shape, args, kwargs",
    [
        ("Softmax", (10, 2), (), {}),
        ("Softmax", (1, 10), (), {}),
        ("Activation", (4,), ("softmax",), {}),
        ("Activation", (1,), ("sigmoid",), {}),
        ("Dense", (8,), (1,), {"activation": "sigmoid"}),
    ],
)
def test_no_warning_otherwise(name, shape, args, kwargs):
    assert layer(name, shape, args=args, **kwargs).warnings == ()


def _transpose_grid():
    for kernel in (1, 2, 3, 4):
        for stride in (1, 2, 3):
            for dilation in (1, 2, 3) if stride == 1 else (1,):
                for output_padding in (None, *range(stride)):
                    yield "Conv1DTranspose", (6, 2), kernel, stride, dilation, output_padding
    for kernel, output_padding in [((2, 3), (0, 1)), ((2, 3), (1, 0)), ((3, 2), (0, 1)), ((3, 2), (1, 0))]:
        yield "Conv2DTranspose", (5, 5, 2), kernel, 2, 1, output_padding
    yield "Conv3DTranspose", (3, 3, 3, 2), 2, 2, 1, 0


@pytest.mark.keras
def test_transpose_warning_marks_exactly_what_tensorflow_cannot_run(keras):
    """padding="same", output_padding 0 and an even dilated kernel: Keras builds the layer,
    TensorFlow aborts when it runs. archdsl warns for exactly those layers."""
    mismatches = []
    for name, shape, kernel, stride, dilation, output_padding in _transpose_grid():
        kwargs = {"strides": stride, "padding": "same", "dilation_rate": dilation, "output_padding": output_padding}
        warned = bool(layer(name, shape, args=(3, kernel), **kwargs).warnings)
        model = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(3, kernel, **kwargs)])
        try:
            model(np.zeros((1, *shape), "float32"))
            fails = False
        except Exception:  # noqa: BLE001 - TensorFlow raises AbortedError from inside the op
            fails = True
        if warned != fails:
            mismatches.append((name, kernel, kwargs, "warned" if warned else "silent", "fails" if fails else "runs"))
    assert mismatches == []


def test_defaults_are_normalised():
    args = layer("Conv2D", (28, 28, 1), args=(4, 3)).args
    assert args["kernel_size"] == (3, 3)
    assert args["strides"] == (1, 1)
    assert args["dilation_rate"] == (1, 1)
    assert layer("MaxPooling2D", (28, 28, 1)).args["pool_size"] == (2, 2)
    assert layer("ZeroPadding2D", (28, 28, 1)).args["padding"] == ((1, 1), (1, 1))
    assert layer("ZeroPadding2D", (28, 28, 1), args=((1, 2),)).args["padding"] == ((1, 1), (2, 2))


def test_named_dimensions_pass_through():
    assert layer("Dropout", ("T", 8), args=(0.1,)).outputs[0].shape == ("T", 8)
    assert layer("Permute", ("T", 8), args=((2, 1),)).outputs[0].shape == (8, "T")
    assert layer("Conv1D", ("T", 8), args=(4, 3)).outputs[0].shape == (None, 4)
    assert layer("Embedding", TensorType(("T",), "int32"), args=(10, 4)).outputs[0].shape == ("T", 4)


def test_every_record_is_documented():
    for spec in CATALOGUE.values():
        if spec.family in FAMILIES:
            assert spec.doc, spec.name
            assert all(p.doc for p in spec.params), spec.name
