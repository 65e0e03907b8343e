"""Move trained Keras weights into the PyTorch model archdsl generated from the same spec.

The two targets of ``archdsl compile`` build the same network, but the frameworks store
weights differently. :func:`keras_to_torch` copies a whole model; :func:`copy_layer_weights`
copies one layer, through a table of small functions keyed by the layer's kind
(:data:`COPIERS`). What they convert:

- kernels: Dense ``(in, out)`` -> ``(out, in)``; Conv ``(k..., in, out)`` -> ``(out, in, k...)``;
  ConvTranspose ``(k..., out, in)`` -> ``(in, out, k...)`` (the same axis move);
  depthwise ``(k..., in, multiplier)`` -> ``(in * multiplier, 1, k...)``;
- BatchNormalization: gamma, beta and the moving mean and variance (running statistics);
- SimpleRNN/LSTM: Keras's one bias becomes ``bias_ih``, with ``bias_hh = 0``; GRU
  (``reset_after=True``) has both biases, and its gates are reordered from Keras's
  (z, r, h) to PyTorch's (r, z, n);
- MultiHeadAttention: the per-head ``(features, heads, dim)`` kernels become the flat
  ``nn.Linear`` weights of the generated module.

Flatten needs no permutation of the next Dense's rows: the generated PyTorch code moves the
channels last before flattening, as Keras does.

Usage::

    import archdsl.api, archdsl.transfer
    program = archdsl.api.check_file("net.arch").program
    keras_model = build_net()            # from the Keras target, trained
    torch_model = Net()                  # from the PyTorch target
    archdsl.transfer.keras_to_torch(program.models["Net"], keras_model, torch_model)

numpy and torch are imported when a copy runs, never by ``archdsl check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archdsl.ir import BlockCall, Layer, Model

Copier = Callable[[dict, Any, Any], None]
COPIERS: dict[str, Copier] = {}


class TransferError(ValueError):
    """The Keras layer and the PyTorch module do not fit together."""


def copies(*ops: str) -> Callable[[Copier], Copier]:
    def register(fn: Copier) -> Copier:
        for op in ops:
            COPIERS[op] = fn
        return fn

    return register


_MISSING: Any = object()


def copy_layer_weights(op: str | Layer, args: Any, keras_layer: Any, torch_module: Any = _MISSING) -> None:
    """Copy the weights of one Keras layer into the PyTorch module the generated code builds
    for it.

    Two spellings: ``copy_layer_weights(op, args, keras_layer, torch_module)`` with the
    layer's kind (``"Conv2D"``) and its bound spec arguments (may be empty), or
    ``copy_layer_weights(layer, keras_layer, torch_module)`` with the IR :class:`Layer`.
    A TimeDistributed IR layer may be given the wrapped Keras layer itself (the layers of a
    TimeDistributed block are plain layers of a small Keras model).
    """
    if isinstance(op, Layer):
        layer, keras_layer, torch_module = op, args, keras_layer
        if layer.op == "TimeDistributed" and layer.inner is not None and _kind(keras_layer) != "TimeDistributed":
            layer = layer.inner
        op, args = layer.op, dict(layer.args)
    elif torch_module is _MISSING:
        raise TypeError("copy_layer_weights(op, args, keras_layer, torch_module): torch_module is missing")
    copier = COPIERS.get(op)
    if copier is None:
        if getattr(keras_layer, "weights", None):
            raise TransferError(f"no weight transfer for {op} layers")
        return  # a layer without weights
    copier(dict(args or {}), keras_layer, torch_module)


# --- array plumbing ---------------------------------------------------------------------


def _array(variable: Any) -> Any:
    import numpy as np

    value = variable.numpy() if hasattr(variable, "numpy") else variable
    return np.asarray(value, dtype=np.float32)


def _set(target: Any, value: Any, what: str) -> None:
    """Copy a numpy array into a torch parameter or buffer, checking the shape."""
    import numpy as np
    import torch

    if target is None:
        raise TransferError(f"{what}: the PyTorch module has no such tensor")
    value = np.array(value, dtype=np.float32, order="C")
    if tuple(target.shape) != value.shape:
        raise TransferError(f"{what}: Keras gives shape {value.shape}, PyTorch expects {tuple(target.shape)}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(value))


def _kernel_to_torch(kernel: Any) -> Any:
    """(k..., a, b) -> (b, a, k...): Conv (k..., in, out) -> (out, in, k...), and ConvTranspose
    (k..., out, in) -> (in, out, k...)."""
    rank = kernel.ndim - 2
    return kernel.transpose((rank + 1, rank) + tuple(range(rank)))


def _depthwise_to_torch(kernel: Any) -> Any:
    """(k..., in, multiplier) -> (in * multiplier, 1, k...): output channel c * multiplier + j."""
    spatial = kernel.shape[:-2]
    flat = kernel.reshape(spatial + (-1,))
    return _kernel_to_torch(flat[..., None, :])


def _bias(keras_layer: Any, torch_module: Any, what: str) -> None:
    bias = getattr(keras_layer, "bias", None)
    if bias is not None:
        _set(torch_module.bias, _array(bias), f"{what} bias")
    elif getattr(torch_module, "bias", None) is not None:
        raise TransferError(f"{what}: the Keras layer has no bias but the PyTorch module has one")


# --- copiers ----------------------------------------------------------------------------


@copies("Dense")
def _dense(args: dict, keras_layer: Any, module: Any) -> None:
    _set(module.weight, _array(keras_layer.kernel).T, "Dense kernel")
    _bias(keras_layer, module, "Dense")


@copies("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv(args: dict, keras_layer: Any, module: Any) -> None:
    name = type(keras_layer).__name__
    _set(module.weight, _kernel_to_torch(_array(keras_layer.kernel)), f"{name} kernel")
    _bias(keras_layer, module, name)


@copies("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(args: dict, keras_layer: Any, module: Any) -> None:
    kernel = getattr(keras_layer, "depthwise_kernel", None)
    kernel = keras_layer.kernel if kernel is None else kernel
    _set(module.weight, _depthwise_to_torch(_array(kernel)), "depthwise kernel")
    _bias(keras_layer, module, type(keras_layer).__name__)


@copies("SeparableConv1D", "SeparableConv2D")
def _separable(args: dict, keras_layer: Any, module: Any) -> None:
    _set(module.depthwise.weight, _depthwise_to_torch(_array(keras_layer.depthwise_kernel)), "depthwise kernel")
    _set(module.pointwise.weight, _kernel_to_torch(_array(keras_layer.pointwise_kernel)), "pointwise kernel")
    _bias(keras_layer, module.pointwise, type(keras_layer).__name__)


@copies("BatchNormalization")
def _batch_norm(args: dict, keras_layer: Any, module: Any) -> None:
    import numpy as np

    mean = _array(keras_layer.moving_mean)
    if module.weight is not None:  # affine; Keras may lack gamma (scale=False) or beta (center=False)
        gamma = keras_layer.gamma
        beta = keras_layer.beta
        _set(module.weight, _array(gamma) if gamma is not None else np.ones_like(mean), "BatchNormalization gamma")
        _set(module.bias, _array(beta) if beta is not None else np.zeros_like(mean), "BatchNormalization beta")
    _set(module.running_mean, mean, "BatchNormalization moving mean")
    _set(module.running_var, _array(keras_layer.moving_variance), "BatchNormalization moving variance")


@copies("LayerNormalization")
def _layer_norm(args: dict, keras_layer: Any, module: Any) -> None:
    import numpy as np

    shape = tuple(module.normalized_shape)
    gamma, beta = keras_layer.gamma, keras_layer.beta
    if module.weight is not None:
        _set(module.weight, _array(gamma).reshape(shape) if gamma is not None else np.ones(shape), "gamma")
    if module.bias is not None:
        _set(module.bias, _array(beta).reshape(shape) if beta is not None else np.zeros(shape), "beta")


@copies("Embedding")
def _embedding(args: dict, keras_layer: Any, module: Any) -> None:
    _set(module.weight, _array(keras_layer.embeddings), "Embedding table")


def _gru_order(array: Any, units: int, axis: int = -1) -> Any:
    """Keras's GRU gate blocks (z, r, h) in PyTorch's order (r, z, n)."""
    import numpy as np

    z, r, h = np.split(array, [units, 2 * units], axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _copy_rnn(keras_layer: Any, module: Any, suffix: str) -> None:
    """One direction of a Keras SimpleRNN/LSTM/GRU into ``*_l0{suffix}`` of nn.RNN/LSTM/GRU."""
    import numpy as np

    name = type(keras_layer).__name__
    cell = getattr(keras_layer, "cell", keras_layer)
    units = cell.units
    kernel, recurrent = _array(cell.kernel), _array(cell.recurrent_kernel)
    bias = _array(cell.bias) if getattr(cell, "bias", None) is not None else None
    if name == "GRU":
        if not getattr(cell, "reset_after", True):
            raise TransferError("GRU with reset_after=False has no PyTorch equivalent")
        kernel, recurrent = _gru_order(kernel, units), _gru_order(recurrent, units)
        if bias is not None:
            bias = _gru_order(bias, units)
            bias_ih, bias_hh = bias[0], bias[1]
    elif bias is not None:
        bias_ih, bias_hh = bias, np.zeros_like(bias)  # PyTorch adds both; Keras has one
    _set(getattr(module, f"weight_ih_l0{suffix}"), kernel.T, f"{name} kernel")
    _set(getattr(module, f"weight_hh_l0{suffix}"), recurrent.T, f"{name} recurrent kernel")
    if bias is not None:
        _set(getattr(module, f"bias_ih_l0{suffix}"), bias_ih, f"{name} input bias")
        _set(getattr(module, f"bias_hh_l0{suffix}"), bias_hh, f"{name} recurrent bias")
    elif getattr(module, "bias", True):
        raise TransferError(f"{name}: the Keras layer has no bias but the PyTorch module has one")


@copies("SimpleRNN", "LSTM", "GRU")
def _recurrent(args: dict, keras_layer: Any, module: Any) -> None:
    _copy_rnn(keras_layer, module, "")


@copies("Bidirectional")
def _bidirectional(args: dict, keras_layer: Any, module: Any) -> None:
    _copy_rnn(keras_layer.forward_layer, module, "")
    _copy_rnn(keras_layer.backward_layer, module, "_reverse")


@copies("TimeDistributed")
def _time_distributed(args: dict, keras_layer: Any, module: Any) -> None:
    inner = keras_layer.layer
    copy_layer_weights(type(inner).__name__, {}, inner, module)


@copies("MultiHeadAttention")
def _multi_head_attention(args: dict, keras_layer: Any, module: Any) -> None:
    for part in ("query", "key", "value"):
        dense = getattr(keras_layer, f"{part}_dense")
        kernel = _array(dense.kernel)  # (features, heads, dim)
        _set(getattr(module, part).weight, kernel.reshape(kernel.shape[0], -1).T, f"{part} kernel")
        if dense.bias is not None:
            _set(getattr(module, part).bias, _array(dense.bias).reshape(-1), f"{part} bias")
    dense = keras_layer.output_dense
    kernel = _array(dense.kernel)  # (heads, value_dim, *output_shape)
    outputs = module.output.weight.shape[0]
    _set(module.output.weight, kernel.reshape(-1, outputs).T, "output kernel")
    if dense.bias is not None:
        _set(module.output.bias, _array(dense.bias).reshape(-1), "output bias")


@copies("Attention")
def _attention(args: dict, keras_layer: Any, module: Any) -> None:
    for name in ("scale", "concat_score_weight"):
        weight = getattr(keras_layer, name, None)
        if weight is not None:
            _set(getattr(module, name), _array(weight), f"Attention {name}")


# --- whole models -------------------------------------------------------------------------


def _keras_layers(keras_model: Any) -> list[Any]:
    """The Keras model's layers in order, without its InputLayer; a TimeDistributed block
    (a TimeDistributed around a small model) contributes that model's layers."""
    found = []
    for layer in keras_model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        inner = getattr(layer, "layer", None)
        if kind == "TimeDistributed" and inner is not None and hasattr(inner, "layers"):
            found += _keras_layers(inner)
            continue
        found.append(layer)
    return found


def _has_weights(layer: Layer) -> bool:
    return layer.submodel is not None or layer.params.total > 0


def _kind(keras_layer: Any) -> str:
    return type(keras_layer).__name__


def _fits(layer: Layer, keras_layer: Any) -> bool:
    if layer.submodel is not None:
        return hasattr(keras_layer, "layers")
    kind = _kind(keras_layer)
    if layer.op == "TimeDistributed" and kind != "TimeDistributed" and layer.inner is not None:
        return kind == layer.inner.op  # a layer of a TimeDistributed block
    return kind == layer.op


def trace_layers(model: Model, keras_model: Any) -> dict[str, Any]:
    """Pair IR layers with Keras layers by the graph itself, exactly.

    Starting from the Keras model's outputs, each tensor's history names the Keras layer
    that made it and the tensors it read; the IR names the same for its tensors. A block
    inside TimeDistributed is one Keras layer around a small model, but several IR layers:
    the trace goes into that model, from its outputs back to its input. Raises
    TransferError where the two graphs differ.
    """
    mapping: dict[str, Any] = {}
    outputs = list(keras_model.outputs)
    if len(outputs) != len(model.outputs):
        raise TransferError(f"{model.name}: Keras has {len(outputs)} outputs, the IR {len(model.outputs)}")
    _trace(model, list(zip(model.outputs, outputs, strict=True)), mapping, None)
    return mapping


def _trace(model: Model, pending: list[tuple[int, Any]], mapping: dict[str, Any], inside: BlockCall | None) -> None:
    """Follow (IR tensor, Keras tensor) pairs back to the inputs; ``inside`` is the
    TimeDistributed block whose one-step Keras model is being traced."""
    seen: set[int] = set()
    while pending:
        tensor_id, keras_tensor = pending.pop()
        tensor = model.tensors[tensor_id]
        if tensor.producer is None or tensor_id in seen or (inside is not None and tensor_id in inside.inputs):
            continue
        seen.add(tensor_id)
        node = model.nodes[tensor.producer]
        history = getattr(keras_tensor, "_keras_history", None)
        if history is None:
            raise TransferError(f"{model.name}: no Keras history for {node.layer.qualified_name}")
        operation, node_index, _ = history
        inputs = list(operation._inbound_nodes[node_index].input_tensors)
        block = model.time_distributed_block(node.block) if inside is None else None
        step_model = getattr(operation, "layer", None) if _kind(operation) == "TimeDistributed" else None
        if block is not None and step_model is not None and hasattr(step_model, "outputs"):
            if len(block.outputs) != len(step_model.outputs) or len(block.inputs) != len(inputs):
                raise TransferError(f"{model.name}: block {block.name} and its Keras TimeDistributed model differ")
            _trace(model, list(zip(block.outputs, step_model.outputs, strict=True)), mapping, block)
            seen.update(block.outputs)
            pending.extend(zip(block.inputs, inputs, strict=True))
            continue
        if not _fits(node.layer, operation):
            raise TransferError(f"{model.name}: {node.layer.qualified_name} ({node.layer.op}) meets {_kind(operation)}")
        previous = mapping.setdefault(node.layer.qualified_name, operation)
        if previous is not operation:
            raise TransferError(f"{model.name}: {node.layer.qualified_name} meets two Keras layers")
        if len(inputs) != len(node.inputs):
            raise TransferError(
                f"{model.name}: {node.layer.qualified_name} reads {len(node.inputs)} tensors, Keras {len(inputs)}"
            )
        pending.extend(zip(node.inputs, inputs, strict=True))


def match_layers(model: Model, keras_model: Any) -> list[tuple[Layer, Any]]:
    """Pair each layer with weights of the IR ``model`` with its Keras layer.

    Exactly through the graph (:func:`trace_layers`) where the two graphs agree node for
    node; otherwise by order, when both models list the same kinds of layers in the same order (Keras lists a
    functional model's layers in graph order, as the IR does); otherwise by name, when every
    such layer has a Keras namesake of the same kind (a model built in a fresh session, where
    Keras's automatic names are the IR's, or a model whose layers are all named).
    """
    ours = [layer for layer in model.layers if _has_weights(layer)]
    try:
        traced = trace_layers(model, keras_model)
        if all(layer.qualified_name in traced for layer in ours):
            return [(layer, traced[layer.qualified_name]) for layer in ours]
    except TransferError:
        pass
    theirs = [k for k in _keras_layers(keras_model) if k.weights]
    if len(ours) == len(theirs) and all(_fits(a, b) for a, b in zip(ours, theirs, strict=True)):
        return list(zip(ours, theirs, strict=True))
    by_name = {k.name: k for k in theirs}
    if len({layer.name for layer in ours}) == len(ours) and all(
        layer.name in by_name and _fits(layer, by_name[layer.name]) for layer in ours
    ):
        return [(layer, by_name[layer.name]) for layer in ours]
    raise TransferError(
        f"cannot pair the layers of model {model.name} with the Keras model's, by order or by name: "
        + ", ".join(f"{layer.qualified_name} ({layer.op})" for layer in ours)
        + " / "
        + ", ".join(f"{k.name} ({_kind(k)})" for k in theirs)
        + "; copy them one by one with copy_layer_weights"
    )


def keras_to_torch(model: Model, keras_model: Any, torch_model: Any) -> None:
    """Copy every weight of ``keras_model`` (built by the Keras target from the spec of the
    IR ``model``) into ``torch_model`` (built by the PyTorch target from the same spec).

    The PyTorch modules are found by the layers' qualified names (``block.layer``), as the
    PyTorch target turns them into attribute names (``double`` is ``double_``, since
    ``nn.Module.double`` exists); sub-models are copied recursively.
    """
    from archdsl.targets.torch import module_name  # the attribute names the PyTorch target gives

    for layer, keras_layer in match_layers(model, keras_model):
        module = torch_model.get_submodule(module_name(layer.qualified_name))
        if layer.submodel is not None:
            keras_to_torch(layer.submodel, keras_layer, module)
        else:
            copy_layer_weights(layer, keras_layer, module)
