"""Elaboration: what each construct of the language means, checked through the IR."""

from __future__ import annotations

from pathlib import Path

from archdsl.api import check_file
from archdsl.ir import TensorType
from tests.conftest import check, messages


def model_of(src: str, name: str | None = None):
    result = check(src)
    assert result.ok, messages(result)
    models = result.program.models
    return models[name] if name else next(iter(models.values()))


def shapes(model) -> list[tuple]:
    return [model.tensors[n.outputs[0]].type.shape for n in model.nodes]


def test_sequential_chain_and_parameters_with_arithmetic() -> None:
    m = model_of(
        """
        model MLP(inputs=784, hidden=128) {
            input x: (inputs,)
            output x -> Dense(hidden) -> Dense(hidden // 2) -> Dense(hidden * 2 - 6)
        }
        """
    )
    assert shapes(m) == [(128,), (64,), (250,)]
    assert m.arguments == {"inputs": 784, "hidden": 128}
    assert m.param_count.trainable == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 250 + 250


def test_defaults_may_use_earlier_parameters() -> None:
    m = model_of("model M(n=8, half=n // 2) { input x: (n,) output x -> Dense(half) }")
    assert m.output_types == (TensorType((4,)),)


def test_named_dimensions_and_integer_inputs() -> None:
    m = model_of(
        """
        model Text(vocab=1000) {
            input tokens: int32 (T,)
            output tokens -> Embedding(vocab, 16) -> LSTM(8, return_sequences=True)
        }
        """
    )
    assert m.input_types == (TensorType(("T",), "int32"),)
    assert m.output_types == (TensorType(("T", 8)),)


def test_none_dimension() -> None:
    m = model_of("model M { input x: (None, 3) output x -> SimpleRNN(5) }")
    assert m.input_types[0].shape == (None, 3)
    assert m.output_types[0].shape == (5,)


def test_several_inputs_and_outputs() -> None:
    m = model_of(
        """
        model Two {
            input a: (4,)
            input b: (6,)
            joined = (a, b) -> Concatenate()
            output joined -> Dense(2), joined -> Dense(3)
        }
        """
    )
    assert len(m.inputs) == 2 and [t.shape for t in m.output_types] == [(2,), (3,)]


def test_fan_out_tuple_step_and_unpacking() -> None:
    m = model_of(
        """
        model VAEHead(latent=2) {
            input h: (16,)
            z_mean, z_log_var = h -> (Dense(latent), Dense(latent))
            output (z_mean, z_log_var) -> Sampling()
        }
        """
    )
    assert [n.layer.op for n in m.nodes] == ["Dense", "Dense", "Sampling"]
    assert m.output_types[0].shape == (2,)


def test_recurrent_states_unpack() -> None:
    m = model_of(
        """
        model Enc {
            input x: (10, 4)
            seq, h, c = x -> LSTM(8, return_sequences=True, return_state=True)
            output seq, h, c
        }
        """
    )
    assert [t.shape for t in m.output_types] == [(10, 8), (8,), (8,)]


def test_block_expansion_with_trace() -> None:
    m = model_of(
        """
        block res(filters) {
            input x
            y = x -> Conv2D(filters, 3, padding="same")
            return (y, x) -> Add()
        }
        model M {
            input x: (8, 8, 4)
            h = x
            for i in range(2) { h = h -> res(4) }
            output h
        }
        """
    )
    assert [n.layer.op for n in m.nodes] == ["Conv2D", "Add"] * 2
    kinds = [[f.kind for f in n.trace] for n in m.nodes]
    assert kinds == [["loop", "block"]] * 4
    assert m.nodes[2].trace[0].detail == "i=1"
    assert [n.layer.qualified_name for n in m.nodes] == ["res.conv2d", "res.add", "res_1.conv2d", "res_1.add"]
    assert [(b.name, b.block, dict(b.arguments)) for b in m.blocks] == [
        ("res", "res", {"filters": 4}),
        ("res_1", "res", {"filters": 4}),
    ]
    assert m.blocks[1].inputs == m.nodes[0].inputs[:0] + (m.nodes[1].outputs[0],)
    assert m.blocks[1].outputs == m.nodes[3].outputs
    assert [n.block for n in m.nodes] == [0, 0, 1, 1]


def test_block_reads_input_shape_and_branches() -> None:
    m = model_of(
        """
        block res(filters, strides=1) {
            input x
            y = x -> Conv2D(filters, 3, strides=strides, padding="same")
            if strides != 1 or x.shape[-1] != filters {
                x = x -> Conv2D(filters, 1, strides=strides)
            }
            return (y, x) -> Add()
        }
        model M {
            input x: (8, 8, 4)
            output x -> res(4) -> res(8, strides=2)
        }
        """
    )
    assert [n.layer.op for n in m.nodes] == ["Conv2D", "Add", "Conv2D", "Conv2D", "Add"]
    assert m.output_types[0].shape == (4, 4, 8)


def test_loop_over_list_doubles_filters() -> None:
    m = model_of(
        """
        model M {
            input x: (32, 32, 3)
            h = x
            for f in [16, 32, 64] { h = h -> Conv2D(f, 3, padding="same") -> MaxPooling2D(2) }
            output h
        }
        """
    )
    assert m.output_types[0].shape == (4, 4, 64)


def test_time_distributed_layer_and_block() -> None:
    m = model_of(
        """
        block frame(filters) {
            input image: (64, 64, 3)
            return image -> Conv2D(filters, 3, activation="relu") -> MaxPooling2D(2) -> Flatten()
        }
        model Video {
            input clip: (None, 64, 64, 3)
            output clip -> TimeDistributed(frame(8)) -> TimeDistributed(Dense(4)) -> LSTM(5)
        }
        """
    )
    assert [n.layer.op for n in m.nodes] == ["TimeDistributed"] * 4 + ["LSTM"]
    assert [n.layer.inner.op for n in m.nodes[:4]] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert shapes(m)[2] == (None, 31 * 31 * 8)


def test_bidirectional_merge_modes() -> None:
    m = model_of(
        """
        model M {
            input x: (10, 4)
            a = x -> Bidirectional(LSTM(8))
            b = x -> Bidirectional(GRU(8), merge_mode="sum")
            output a, b
        }
        """
    )
    assert [t.shape for t in m.output_types] == [(16,), (8,)]


def test_model_as_layer_shared_submodels_and_frozen() -> None:
    result = check(
        """
        model Encoder(n=784, code=32) {
            input x: (n,)
            output x -> Dense(code, activation="relu")
        }
        model Decoder(n=784, code=32) {
            input z: (code,)
            output z -> Dense(n, activation="sigmoid")
        }
        model Autoencoder(n=784, code=32) {
            encoder = Encoder(n, code)
            decoder = Decoder(n, code)
            input x: (n,)
            output x -> encoder -> decoder
        }
        model Frozen {
            input x: (784,)
            output x -> Encoder(trainable=False)
        }
        """
    )
    assert result.ok, messages(result)
    models = result.program.models
    ae = models["Autoencoder"]
    assert [n.layer.name for n in ae.nodes] == ["encoder", "decoder"]
    assert ae.nodes[0].layer.submodel is models["Encoder"]
    assert ae.param_count.total == models["Encoder"].param_count.total + models["Decoder"].param_count.total
    frozen = models["Frozen"]
    assert frozen.param_count.trainable == 0 and frozen.param_count.non_trainable == 784 * 32 + 32


def test_shared_layer_counts_weights_once() -> None:
    m = model_of(
        """
        model Siamese {
            input a: (8,)
            input b: (8,)
            shared = Dense(4)
            output (a -> shared, b -> shared) -> Concatenate()
        }
        """
    )
    assert [n.layer.name for n in m.nodes] == ["shared", "shared", "concatenate"]
    assert m.param_count.trainable == 8 * 4 + 4


def test_import_of_another_file(tmp_path: Path) -> None:
    (tmp_path / "blocks.arch").write_text(
        'block head(classes) { input x return x -> Dense(classes, activation="softmax") }\n'
    )
    (tmp_path / "net.arch").write_text(
        'import "blocks.arch"\nimport "blocks.arch" as lib\n'
        "model Net { input x: (4,) output x -> head(3) -> lib.head(2) }\n"
    )
    result = check_file(tmp_path / "net.arch")
    assert result.ok, messages(result)
    assert result.program.models["Net"].output_types[0].shape == (2,)


def test_aliased_definitions_work_wherever_local_ones_do(tmp_path: Path) -> None:
    """Through an alias: a block inside TimeDistributed, and a model bound to a name and
    applied twice (one instance, its weights counted once)."""
    (tmp_path / "lib.arch").write_text(
        'block conv_bn(filters) { input x return x -> Conv2D(filters, 3, padding="same") -> BatchNormalization() }\n'
        "model Enc(n=8) { input x: (16,) output x -> Dense(n) }\n"
    )
    (tmp_path / "net.arch").write_text(
        'import "lib.arch" as lib\n'
        "model Net {\n"
        "  input clip: (5, 8, 8, 3)\n"
        "  input v: (16,)\n"
        "  enc = lib.Enc(4)\n"
        "  frames = clip -> TimeDistributed(lib.conv_bn(6))\n"
        "  output frames, (v -> enc, v -> enc) -> Add()\n"
        "}\n"
    )
    result = check_file(tmp_path / "net.arch")
    assert result.ok, messages(result)
    model = result.program.models["Net"]
    assert [t.shape for t in model.output_types] == [(5, 8, 8, 6), (4,)]
    assert [layer.op for layer in model.layers] == ["TimeDistributed", "TimeDistributed", "Model", "Add"]
    assert model.layers[2].submodel is not None and model.layers[2].submodel.name == "Enc"
    assert model.param_count.total == (3 * 3 * 3 * 6 + 6) + 4 * 6 + (16 * 4 + 4)


def test_names_read_by_a_failed_statement_are_not_reported_unused() -> None:
    result = check(
        """
        model M {
            input x: (4,)
            a = x -> Dense(3)
            b = x -> Dense(3)
            output a -> Conv2D(3, 3), (a, b) -> Add()
        }
        """
    )
    assert messages(result) == [
        "error: Conv2D expects input of rank 3 (height, width, channels), got rank 1 with shape (3,)"
    ]


def test_import_errors_point_into_the_imported_file(tmp_path: Path) -> None:
    (tmp_path / "blocks.arch").write_text("block head(classes) {\n  input x\n  return x -> Dense(clases)\n}\n")
    (tmp_path / "net.arch").write_text('import "blocks.arch"\nmodel Net { input x: (4,) output x -> head(3) }\n')
    result = check_file(tmp_path / "net.arch")
    (diagnostic,) = result.reporter.errors
    assert diagnostic.location.file.endswith("blocks.arch") and diagnostic.location.line == 3
    assert diagnostic.notes[0].location.file.endswith("net.arch")


def test_import_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.arch").write_text('import "b.arch"\nmodel A { input x: (1,) output x }\n')
    (tmp_path / "b.arch").write_text('import "a.arch"\n')
    result = check_file(tmp_path / "a.arch")
    assert any("import cycle" in m for m in messages(result))


def test_all_errors_in_a_file_are_reported_once_each() -> None:
    result = check(
        """
        model M {
            input x: (4,)
            a = x -> Dense(0)
            b = a -> Dense(3)
            c = x -> Conv2D(3, 3)
            output (b, c) -> Add()
        }
        """
    )
    errors = [m for m in messages(result) if m.startswith("error")]
    assert len(errors) == 2, errors  # Dense(0) and Conv2D on rank 1; the rest depends on them


def test_unused_warnings_respect_underscore() -> None:
    result = check(
        """
        model M {
            input x: (10, 4)
            seq, _h, _c = x -> LSTM(8, return_sequences=True, return_state=True)
            output seq
        }
        """
    )
    assert result.ok and not result.reporter.warnings


def test_overwritten_before_use_warns() -> None:
    result = check("model M { input x: (4,) h = x -> Dense(2) h = x -> Dense(3) output h }")
    assert messages(result) == ["warning: the value of 'h' is overwritten before it is used"]


def test_evaluation_errors() -> None:
    cases = {
        "model M(n=4) { input x: (n // 0,) output x }": "division by zero",
        "model M(n=4) { input x: (n ** 100,) output x }": "4 ** 100 is too large",
        "model M { input x: (-3,) output x }": "a dimension must be positive, got -3",
        'model M { input x: ("a",) output x }': 'a dimension must be a positive integer, None or a name, got a string ("a")',
        "model M { input x: (4,) if 3 { x = x } output x }": "a condition must be True or False, got an integer",
        "model M { input x: (4,) for i in 5 { x = x } output x }": "a for loop needs range(...) or a list, got an integer",
        "model M { input x: (4,) output x -> l2(0.1) }": "'l2' is a regularizer, not a layer",
        "model M { input x: (4,) y = 3 output y -> Dense(2) }": "'->' passes tensors into a layer, but the left side is an integer",
        'model M { input x: (4,) output x -> Dense(2, name="a b") }': 'layer name "a b" is not a valid identifier',
        "model M { input x: (4,) Dense = 3 output x }": "'Dense' is already a built-in layer",
        "block b(n) { input x return x } model M { input x: (4,) y = b(3) output x }": "a block call cannot be stored in a name",
        "model M { input x: (4,) output x } model N { input x: (4,) output x -> M(units=3) }": "model 'M' has no parameter 'units'",
        "model A { input x: (4,) output x -> B() } model B { input x: (4,) output x -> A() }": "uses itself",
        "model M(n=y128) { input x: (4,) output x }": "undefined name 'y128'",
        "block b(k=zz) { input x return x } model M { input x: (4,) output x -> b() }": "undefined name 'zz'",
    }
    for src, expected in cases.items():
        found = messages(check(src))
        assert any(expected in m for m in found), (src, found)


def test_every_expression_kind_has_an_evaluator() -> None:
    from archdsl import tree as t
    from archdsl.lower import _EVALUATORS

    kinds, pending = set(), [t.Expr]
    while pending:
        for sub in pending.pop().__subclasses__():
            kinds.add(sub)
            pending.append(sub)
    assert kinds == set(_EVALUATORS)


def test_regularizers_bind_as_keras_declares_them() -> None:
    """L1(l1=0.01), L2(l2=0.01) and L1L2(l1=0.0, l2=0.0), by position or by name."""
    from archdsl.layers.base import Regularizer

    cases = {
        "l1()": Regularizer(0.01, 0.0),
        "l2()": Regularizer(0.0, 0.01),
        "l1(0.5)": Regularizer(0.5, 0.0),
        "l2(l2=0.5)": Regularizer(0.0, 0.5),
        "l1_l2()": Regularizer(0.0, 0.0),
        "l1_l2(0.1)": Regularizer(0.1, 0.0),
        "l1_l2(0.1, 0.2)": Regularizer(0.1, 0.2),
        "l1_l2(0.1, l2=0.2)": Regularizer(0.1, 0.2),
        "l1_l2(l2=0.2)": Regularizer(0.0, 0.2),
    }
    for written, expected in cases.items():
        model = model_of(f"model M {{ input x: (4,) output x -> Dense(2, kernel_regularizer={written}) }}")
        assert model.nodes[-1].layer.args["kernel_regularizer"] == expected, written


def test_regularizer_misuse_is_an_error_with_its_signature() -> None:
    cases = {
        "l1_l2(1, 2, 3)": "write l1_l2(l1=..., l2=...)",
        "l1_l2(0.1, l1=0.2)": "write l1_l2(l1=..., l2=...)",
        "l1(l2=0.1)": "write l1(l1=...)",
        "l2(0.1, 0.2)": "write l2(l2=...)",
        "l2(-1)": "the factor must be a number >= 0",
    }
    for written, hint in cases.items():
        result = check(f"model M {{ input x: (4,) output x -> Dense(2, kernel_regularizer={written}) }}")
        hints = [d.hint for d in result.reporter.errors]
        assert hints == [hint], (written, hints)
