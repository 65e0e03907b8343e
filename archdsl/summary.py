"""``archdsl summary``: a per-layer table computed from the IR, like Keras's model.summary()."""

from __future__ import annotations

from archdsl.ir import Model, Node, ParamCount, format_shape


def _shape_text(model: Model, node: Node) -> str:
    shapes = [format_shape(model.tensors[t].type.shape) for t in node.outputs]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _is_chain(model: Model) -> bool:
    """True when every node reads exactly the previous node's single output."""
    previous = model.inputs
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    for node in model.nodes:
        if node.inputs != tuple(previous) or len(node.outputs) != 1:
            return False
        previous = node.outputs
    return tuple(previous) == model.outputs


def _source_names(model: Model, node: Node) -> str:
    names = []
    for tid in node.inputs:
        tensor = model.tensors[tid]
        if tensor.producer is None:
            names.append(tensor.name or "input")
        else:
            producer = model.nodes[tensor.producer].layer.qualified_name
            names.append(producer if model.nodes[tensor.producer].outputs == (tid,) else f"{producer}[{tensor.index}]")
    return ", ".join(names)


def _bytes(count: int) -> str:
    size = count * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return ""  # pragma: no cover


def render_summary(model: Model) -> str:
    """The table for one model, shapes without the batch dimension."""
    chain = _is_chain(model)
    headers = ["Layer (type)", "Output shape", "Params"] + ([] if chain else ["Input from"])
    rows: list[list[str]] = []
    for tid in model.inputs:
        tensor = model.tensors[tid]
        rows.append([f"{tensor.name} (Input)", str(tensor.type), "0"] + ([] if chain else [""]))
    counted: set[str] = set()
    for node in model.nodes:
        layer = node.layer
        kind = layer.submodel.name if layer.submodel is not None else layer.op
        if layer.inner is not None:
            kind = f"{layer.op}({layer.inner.op})"
        params = "" if layer.qualified_name in counted else f"{layer.params.total:,}"
        counted.add(layer.qualified_name)
        name = f"{layer.qualified_name} ({kind})" + ("" if layer.trainable else " [frozen]")
        rows.append([name, _shape_text(model, node), params] + ([] if chain else [_source_names(model, node)]))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    aligns = ["<", "<", ">", "<"]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{aligns[i]}{widths[i]}}" for i, c in enumerate(cells)).rstrip()

    rule = "─" * len(line(headers))
    out = [f'Model: "{model.name}"  (shapes exclude the batch dimension)', rule, line(headers), rule]
    out += [line(r) for r in rows]
    out.append(rule)
    total: ParamCount = model.param_count
    out.append(f"Total params: {total.total:,} ({_bytes(total.total)})")
    out.append(f"Trainable params: {total.trainable:,} ({_bytes(total.trainable)})")
    out.append(f"Non-trainable params: {total.non_trainable:,} ({_bytes(total.non_trainable)})")
    if total.torch_parameters != total.trainable or total.buffers != total.non_trainable:
        out.append(f"PyTorch: {total.torch_parameters:,} parameters, {total.buffers:,} buffer elements")
    out.append(rule)
    return "\n".join(out) + "\n"
