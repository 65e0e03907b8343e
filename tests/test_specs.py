"""The gallery in specs/: every architecture of the course page, checked and counted.

For each model of each spec:

* ``archdsl check --strict specs/`` passes with no errors and no warnings;
* a Keras 3 reference model (tests/keras_references.py), written from the architecture's description (not from the
  generated code), has the parameter counts (total, trainable, non-trainable) of archdsl's IR;
* PyTorch's counts follow from Keras's by the documented differences, applied exactly
  (:func:`torch_differences`), and equal the IR's figures and the generated PyTorch model's;
* the generated Keras model has the IR's counts, and both generated models run on random data
  with the output shapes the IR predicts.

Then the generative specs are used as a user would: the autoencoder's encoder followed by its
decoder reproduces the autoencoder; the VAE trains with its KL term and its decoder generates
on its own; the GAN and the DCGAN train, and the combined model's generator step leaves the
frozen discriminator's weights untouched.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from math import prod
from pathlib import Path
from types import ModuleType

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from archdsl.api import check_file  # noqa: E402
from archdsl.ir import Model, ParamCount, TensorType  # noqa: E402
from tests.keras_references import REFERENCES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GALLERY = ROOT / "docs" / "gallery.md"

pytestmark = pytest.mark.keras


def ir_model(spec: str, name: str) -> Model:
    result = check_file(SPECS / spec)
    assert result.ok and result.program is not None, spec
    return result.program.models[name]


def counts(spec: str, name: str) -> ParamCount:
    return ir_model(spec, name).param_count


CASES = list(REFERENCES)
IDS = [f"{spec[:-5]}-{name}" for spec, name in CASES]

# The course page's architectures, one spec each, in the page's order.
COURSE_SPECS = [
    "mlp", "cnn", "lenet5", "resnet", "simple_rnn", "lstm", "gru", "bidirectional", "autoencoder",
    "conv_autoencoder", "vae", "gan", "dcgan", "cnn_rnn", "attention", "best_practices",
]  # fmt: skip


def keras_counts(model: keras.Model) -> tuple[int, int]:
    """(trainable, non-trainable) weight elements, as ``model.summary()`` reports them."""
    trainable = sum(prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(prod(w.shape) for w in model.non_trainable_weights)
    assert trainable + non_trainable == model.count_params()
    return trainable, non_trainable


def torch_differences(layer) -> tuple[int, int]:
    """(parameters PyTorch has beyond Keras's weights, PyTorch buffer elements) for a Keras layer or model.

    The documented differences, exactly:

    * BatchNormalization over C channels: Keras's 2C moving mean and variance are weights
      (non-trainable); in PyTorch they are buffers, not parameters, with one more buffer
      element (``num_batches_tracked``): parameters -2C, buffers +(2C + 1).
    * Recurrent layers: PyTorch keeps two bias vectors (``b_ih`` and ``b_hh``) where Keras
      keeps one per gate block: SimpleRNN +units, LSTM +4*units, per layer and per direction
      (a Bidirectional wrapper counts both of its layers). GRU with Keras's default
      ``reset_after=True`` already has both biases: +0.
    * Every other layer: the same parameters, no buffers.
    """
    if isinstance(layer, layers.BatchNormalization):
        channels = layer.moving_mean.shape[0]
        return -2 * channels, 2 * channels + 1
    if isinstance(layer, layers.LSTM):
        return 4 * layer.units, 0
    if isinstance(layer, layers.SimpleRNN):
        return layer.units, 0
    if isinstance(layer, layers.GRU):
        assert layer.reset_after
        return 0, 0
    if isinstance(layer, layers.Bidirectional):
        parts = [layer.forward_layer, layer.backward_layer]
    elif isinstance(layer, layers.TimeDistributed):
        parts = [layer.layer]
    elif isinstance(layer, keras.Model):
        parts = layer.layers
    else:
        return 0, 0
    found = [torch_differences(part) for part in parts]
    return sum(p for p, _ in found), sum(b for _, b in found)


# --- checking the gallery ------------------------------------------------------------------------


def test_every_course_architecture_has_a_spec_and_every_model_a_reference() -> None:
    assert sorted(p.stem for p in SPECS.glob("*.arch")) == sorted(COURSE_SPECS)
    models = {(p.name, name) for p in SPECS.glob("*.arch") for name in check_file(p).program.models}
    assert models == set(REFERENCES)


def test_check_strict_passes_with_no_errors_and_no_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "check", "--strict", "specs/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checked {len(COURSE_SPECS)} files: 0 errors, 0 warnings" in result.stdout
    for spec in SPECS.glob("*.arch"):
        assert check_file(spec).reporter.sorted() == [], spec


def test_every_model_has_a_docstring_and_every_spec_a_header_comment() -> None:
    for spec in SPECS.glob("*.arch"):
        assert spec.read_text(encoding="utf-8").startswith("# "), spec
        for model in check_file(spec).program.models.values():
            assert model.doc, f"{spec.name}: {model.name}"


def test_gallery_lists_every_model_with_its_parameter_count() -> None:
    text = GALLERY.read_text(encoding="utf-8")
    rows = re.findall(r"^\|[^|\n]*\| `(\w+)` \|[^|\n]*\| ([\d,]+) \|$", text, re.MULTILINE)
    listed = {name: int(count.replace(",", "")) for name, count in rows}
    assert listed == {name: counts(spec, name).total for spec, name in CASES}
    for name, keras_total, torch_parameters, buffers in re.findall(
        r"^\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.MULTILINE
    ):
        (spec,) = [s for s, n in CASES if n == name]
        expected = counts(spec, name)
        figures = (expected.total, expected.torch_parameters, expected.buffers)
        assert tuple(int(v.replace(",", "")) for v in (keras_total, torch_parameters, buffers)) == figures, name
    differing = {n for s, n in CASES if counts(s, n).torch_parameters != counts(s, n).total}
    assert differing <= set(re.findall(r"^\| `(\w+)` \| [\d,]+ \| [\d,]+ \|", text, re.MULTILINE))


def test_conv_autoencoder_returns_to_28x28x1() -> None:
    model = ir_model("conv_autoencoder.arch", "ConvAutoencoder")
    shapes = [model.tensor(node.outputs[0]).type.shape for node in model.nodes]
    assert (14, 14, 16) in shapes  # the unpadded 3x3 convolution: 16x16 -> 14x14
    assert model.output_types == (TensorType((28, 28, 1)),)


def test_attention_softmax_runs_across_time() -> None:
    model = ir_model("attention.arch", "AttentionClassifier")
    (softmax,) = [node for node in model.nodes if node.layer.op == "Softmax"]
    assert model.tensor(softmax.inputs[0]).type.shape == (100, 1)
    assert softmax.layer.args["axis"] == 1  # the time axis (batch = 0), not the axis of size 1


def test_the_page_attention_bug_is_a_warning() -> None:
    fixture = ROOT / "tests" / "diagnostics" / "softmax_over_size_one.arch"
    diagnostics = check_file(fixture).reporter.sorted()
    assert [d.severity.value for d in diagnostics] == ["warning"]
    assert "softmax over an axis of size 1" in diagnostics[0].message


@pytest.mark.parametrize(("spec", "name"), CASES, ids=IDS)
def test_keras_reference_counts_equal_the_ir(spec: str, name: str) -> None:
    expected = counts(spec, name)
    reference = REFERENCES[spec, name]()
    assert keras_counts(reference) == (expected.trainable, expected.non_trainable)
    assert reference.count_params() == expected.total


@pytest.mark.parametrize(("spec", "name"), CASES, ids=IDS)
def test_torch_counts_are_keras_counts_plus_the_documented_differences(spec: str, name: str) -> None:
    expected = counts(spec, name)
    reference = REFERENCES[spec, name]()
    extra_parameters, buffers = torch_differences(reference)
    assert expected.torch_parameters == reference.count_params() + extra_parameters
    assert expected.buffers == buffers


# --- the generated code ------------------------------------------------------------------------

# Generated self-tests (``python generated.py``) that fail, with what fails: codegen bugs, reported.
SELF_TEST_FAILS: dict[tuple[str, str], str] = {}

_generated: dict[tuple[str, str], ModuleType] = {}


def generated(spec: str, target: str, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The module ``archdsl compile specs/SPEC --target TARGET`` writes, imported."""
    key = (spec, target)
    if key not in _generated:
        from archdsl.codegen import generate

        program = check_file(SPECS / spec).program
        path = tmp_path_factory.mktemp("generated") / f"{spec[:-5]}_{target}.py"
        path.write_text(generate(program, target, None, f"specs/{spec}"), encoding="utf-8")
        module_spec = importlib.util.spec_from_file_location(f"archdsl_gallery_{spec[:-5]}_{target}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        _generated[key] = module
    return _generated[key]


KERAS_BUILDERS = {
    "MLP": "build_mlp", "CNN": "build_cnn", "LeNet5": "build_le_net5", "ResNet": "build_res_net",
    "SimpleRNNRegressor": "build_simple_rnn_regressor", "StackedLSTM": "build_stacked_lstm",
    "GRUClassifier": "build_gru_classifier", "BidirectionalLSTM": "build_bidirectional_lstm",
    "Encoder": "build_encoder", "Decoder": "build_decoder", "Autoencoder": "build_autoencoder",
    "ConvAutoencoder": "build_conv_autoencoder", "VAEEncoder": "build_vae_encoder",
    "VAEDecoder": "build_vae_decoder", "VAE": "build_vae", "Generator": "build_generator",
    "Discriminator": "build_discriminator", "GAN": "build_gan", "DCGANGenerator": "build_dcgan_generator",
    "DCGANDiscriminator": "build_dcgan_discriminator", "DCGAN": "build_dcgan",
    "VideoClassifier": "build_video_classifier", "AttentionClassifier": "build_attention_classifier",
    "BestPractices": "build_best_practices",
}  # fmt: skip


def sample_shape(shape: tuple, time: int = 5) -> tuple[int, ...]:
    """A concrete shape for random data: unknown dimensions become ``time``."""
    return tuple(d if isinstance(d, int) else time for d in shape)


def random_inputs(model: Model, batch: int = 2) -> list[np.ndarray]:
    """Random data for each input: token ids in [0, 10) for integer inputs, uniform floats otherwise."""
    rng = np.random.default_rng(0)
    data = []
    for tensor_type in model.input_types:
        shape = (batch, *sample_shape(tensor_type.shape))
        if tensor_type.is_integer:
            data.append(rng.integers(0, 10, size=shape).astype(tensor_type.dtype))
        else:
            data.append(rng.random(shape, dtype="float32"))
    return data


def channels_first(shape: tuple) -> tuple:
    """PyTorch's layout of a batch-free Keras shape: channels move to the front of images (H, W, C) -> (C, H, W)
    and of frame sequences (T, H, W, C) -> (C, T, H, W); vectors and (time, features) sequences are unchanged."""
    return (shape[-1], *shape[:-1]) if len(shape) >= 3 else shape


def _expected_output_shapes(model: Model, batch: int, layout=lambda s: s) -> list[tuple[int, ...]]:
    return [(batch, *layout(sample_shape(t.shape))) for t in model.output_types]


@pytest.mark.parametrize(("spec", "name"), CASES, ids=IDS)
def test_generated_keras_model_has_the_ir_counts_and_shapes(spec: str, name: str, tmp_path_factory) -> None:
    model = ir_model(spec, name)
    built = getattr(generated(spec, "keras", tmp_path_factory), KERAS_BUILDERS[name])()
    assert keras_counts(built) == (model.param_count.trainable, model.param_count.non_trainable)
    (data,) = random_inputs(model)  # every gallery model has one input
    outputs = built(data)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    assert [tuple(o.shape) for o in outputs] == _expected_output_shapes(model, 2)


@pytest.mark.torch
@pytest.mark.parametrize(("spec", "name"), CASES, ids=IDS)
def test_generated_torch_model_has_the_ir_counts(spec: str, name: str, tmp_path_factory) -> None:
    pytest.importorskip("torch")
    expected = counts(spec, name)
    reference = REFERENCES[spec, name]()
    extra_parameters, buffers = torch_differences(reference)
    net = getattr(generated(spec, "torch", tmp_path_factory), name)()
    parameters = sum(p.numel() for p in net.parameters())
    assert parameters == expected.torch_parameters == reference.count_params() + extra_parameters
    assert sum(b.numel() for b in net.buffers()) == expected.buffers == buffers
    # Frozen sub-models keep their parameters, without gradients.
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == _torch_trainable(ir_model(spec, name))


def _torch_trainable(model: Model) -> int:
    """PyTorch parameters with requires_grad: those of layers and sub-models not frozen in the spec."""
    return sum(layer.params.torch_parameters for layer in model.layers if layer.trainable)


@pytest.mark.torch
@pytest.mark.parametrize(("spec", "name"), CASES, ids=IDS)
def test_generated_torch_model_runs_with_the_ir_shapes(spec: str, name: str, tmp_path_factory) -> None:
    torch = pytest.importorskip("torch")
    model = ir_model(spec, name)
    net = getattr(generated(spec, "torch", tmp_path_factory), name)().eval()
    inputs = []
    for tensor_type, data in zip(model.input_types, random_inputs(model), strict=True):
        if not tensor_type.is_integer and len(tensor_type.shape) >= 3:
            data = np.ascontiguousarray(np.moveaxis(data, -1, 1))  # channels first
        inputs.append(torch.from_numpy(data).long() if tensor_type.is_integer else torch.from_numpy(data))
    with torch.no_grad():
        outputs = net(*inputs)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    assert [tuple(o.shape) for o in outputs] == _expected_output_shapes(model, 2, channels_first)
    assert all(torch.isfinite(o).all() for o in outputs)


def _self_test_params() -> list:
    params = []
    for spec in COURSE_SPECS:
        for target in ("keras", "torch"):
            reason = SELF_TEST_FAILS.get((f"{spec}.arch", target))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(f"{spec}.arch", target, marks=marks, id=f"{spec}-{target}"))
    return params


@pytest.mark.parametrize(("spec", "target"), _self_test_params())
def test_generated_self_test_passes(spec: str, target: str, tmp_path_factory) -> None:
    """The generated module's ``__main__`` block builds every model and checks its output shapes."""
    if target == "torch":
        pytest.importorskip("torch")
    module = generated(spec, target, tmp_path_factory)
    runpy.run_path(module.__file__, run_name="__main__")


# --- the generative models in use -----------------------------------------------------------------


def weights_of(model) -> list[np.ndarray]:
    """A copy of every weight of a Keras model, or of every parameter of a PyTorch module."""
    if isinstance(model, keras.Model):
        return [np.array(w.numpy()) for w in model.weights]
    return [p.detach().clone().numpy() for p in model.parameters()]


def unchanged(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_autoencoder_encoder_then_decoder_is_the_autoencoder_keras(tmp_path_factory) -> None:
    module = generated("autoencoder.arch", "keras", tmp_path_factory)
    autoencoder = module.build_autoencoder()
    encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
    x = np.random.default_rng(0).random((8, 784), dtype="float32")
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    autoencoder.fit(x, x, epochs=1, batch_size=8, verbose=0)  # the shared weights move together
    code = encoder.predict(x, verbose=0)
    assert code.shape == (8, 32)
    np.testing.assert_allclose(decoder.predict(code, verbose=0), autoencoder.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.torch
def test_autoencoder_encoder_then_decoder_is_the_autoencoder_torch(tmp_path_factory) -> None:
    torch = pytest.importorskip("torch")
    module = generated("autoencoder.arch", "torch", tmp_path_factory)
    torch.manual_seed(0)
    autoencoder = module.Autoencoder()
    x = torch.rand(8, 784)
    optimizer = torch.optim.Adam(autoencoder.parameters(), 1e-2)
    loss = torch.nn.functional.binary_cross_entropy(autoencoder(x), x)
    loss.backward()
    optimizer.step()
    autoencoder.eval()
    with torch.no_grad():
        code = autoencoder.encoder(x)
        assert code.shape == (8, 32)
        torch.testing.assert_close(autoencoder.decoder(code), autoencoder(x), rtol=1e-6, atol=0)


def test_vae_trains_and_its_decoder_generates_keras(tmp_path_factory) -> None:
    module = generated("vae.arch", "keras", tmp_path_factory)
    keras.utils.set_random_seed(0)
    vae = module.build_vae()
    x = np.random.default_rng(0).random((32, 784), dtype="float32")
    vae(x[:4], training=True)
    assert len(vae.losses) == 1  # the Sampling layer's KL term
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    history = vae.fit(x, x, epochs=3, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    decoder = vae.get_layer("decoder")
    samples = decoder.predict(np.random.default_rng(1).normal(size=(5, 2)).astype("float32"), verbose=0)
    assert samples.shape == (5, 784) and ((samples >= 0) & (samples <= 1)).all()
    assert {id(w) for w in decoder.weights} <= {id(w) for w in vae.weights}


@pytest.mark.torch
def test_vae_trains_and_its_decoder_generates_torch(tmp_path_factory) -> None:
    torch = pytest.importorskip("torch")
    module = generated("vae.arch", "torch", tmp_path_factory)
    torch.manual_seed(0)
    vae = module.VAE()
    optimizer = torch.optim.Adam(vae.parameters(), 1e-3)
    x = torch.rand(32, 784)
    for _ in range(3):
        optimizer.zero_grad()
        reconstruction = torch.nn.functional.binary_cross_entropy(vae(x), x)
        kl = vae.encoder.sampling.kl_loss
        loss = reconstruction + kl
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss) and kl.requires_grad
    vae.eval()
    with torch.no_grad():
        samples = vae.decoder(torch.randn(5, 2))
    assert samples.shape == (5, 784) and ((samples >= 0) & (samples <= 1)).all()


GANS = [("gan.arch", "build_gan", "GAN"), ("dcgan.arch", "build_dcgan", "DCGAN")]


@pytest.mark.parametrize(("spec", "builder", "name"), GANS, ids=["gan", "dcgan"])
def test_gan_trains_with_a_frozen_discriminator_keras(spec: str, builder: str, name: str, tmp_path_factory) -> None:
    module = generated(spec, "keras", tmp_path_factory)
    keras.utils.set_random_seed(0)
    gan = getattr(module, builder)()
    generator, discriminator = gan.get_layer("generator"), gan.get_layer("discriminator")
    assert not discriminator.trainable and gan.trainable_weights == generator.trainable_weights
    # The usual Keras recipe: compile the discriminator while trainable, the combined model while frozen.
    discriminator.trainable = True
    discriminator.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    discriminator.trainable = False
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    batch = 8
    ones, zeros = np.ones((batch, 1), "float32"), np.zeros((batch, 1), "float32")
    for _ in range(2):
        z = rng.normal(size=(batch, 100)).astype("float32")
        fake = generator.predict(z, verbose=0)
        real = rng.uniform(-1, 1, size=(batch, 28, 28, 1)).astype("float32")
        discriminator.trainable = True
        before = weights_of(discriminator)
        d_loss = discriminator.train_on_batch(np.concatenate([real, fake]), np.concatenate([ones, zeros]))
        assert not unchanged(before, weights_of(discriminator))
        discriminator.trainable = False
        d_before, g_before = weights_of(discriminator), weights_of(generator)
        g_loss = gan.train_on_batch(z, ones)
        assert unchanged(d_before, weights_of(discriminator)), "the generator step changed the discriminator"
        assert not unchanged(g_before, weights_of(generator))
        assert np.isfinite(d_loss) and np.isfinite(g_loss)


@pytest.mark.torch
@pytest.mark.parametrize(("spec", "builder", "name"), GANS, ids=["gan", "dcgan"])
def test_gan_trains_with_a_frozen_discriminator_torch(spec: str, builder: str, name: str, tmp_path_factory) -> None:
    torch = pytest.importorskip("torch")
    module = generated(spec, "torch", tmp_path_factory)
    torch.manual_seed(0)
    gan = getattr(module, name)()
    generator, discriminator = gan.generator, gan.discriminator
    assert not any(p.requires_grad for p in discriminator.parameters())
    d_optimizer = torch.optim.Adam(discriminator.parameters(), 1e-3)
    g_optimizer = torch.optim.Adam(gan.parameters(), 1e-3)  # all of them: freezing must keep D's still
    bce = torch.nn.BCELoss()
    batch = 8
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    for _ in range(2):
        z = torch.randn(batch, 100)
        with torch.no_grad():
            fake = generator(z)
        real = torch.rand(batch, 1, 28, 28) * 2 - 1
        discriminator.requires_grad_(True)
        before = weights_of(discriminator)
        d_optimizer.zero_grad()
        d_loss = bce(discriminator(torch.cat([real, fake])), torch.cat([ones, zeros]))
        d_loss.backward()
        d_optimizer.step()
        assert not unchanged(before, weights_of(discriminator))
        discriminator.requires_grad_(False)
        d_before, g_before = weights_of(discriminator), weights_of(generator)
        g_optimizer.zero_grad()
        g_loss = bce(gan(z), ones)
        g_loss.backward()
        g_optimizer.step()
        assert unchanged(d_before, weights_of(discriminator)), "the generator step changed the discriminator"
        assert not unchanged(g_before, weights_of(generator))
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
