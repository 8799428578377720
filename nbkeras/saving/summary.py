"""``model.summary()`` in Keras 3's text layout, drawn without the ``rich`` library that Keras uses.

What Keras 3.15 prints (``keras/src/utils/summary_utils.py`` rendered by rich's ``Table``):

- A model is "sequential-like" (columns Layer (type) / Output Shape / Param #; default width 88, positions
  [0.45, 0.80, 1.0]) when it is a Sequential, or a functional model whose nodes form one chain; otherwise a
  "Connected to" column is added (width 108, positions [0.3, 0.56, 0.74, 1.0]). ``show_trainable`` adds
  "Trainable" (width + 12, positions scaled by 0.9). The default width is capped at the terminal's columns - 4.
- Column i gets ``int(pos_i * line_length) - int(pos_(i-1) * line_length)`` characters; rich adds one space of
  padding on each side, and when the columns and their borders do not fit in ``line_length`` it takes the excess
  back from the columns in equal shares (its ``ratio_reduce``, Python's round-half-even).
- Cells wrap at spaces; a word longer than its column is cut with an ellipsis. Rows are separated by lines; the
  box is rich's HEAVY_HEAD.
- Totals count trainable, non-trainable and (when the optimizer is built) optimizer variables, with sizes in
  bytes scaled by 1024 (``"320.00 B"``, ``"1.66 KB"``).
"""

import math
import re
import shutil

import numpy as np

# rich.box.HEAVY_HEAD: (left, horizontal, cross, right) for each kind of line, and the vertical of each row kind.
_TOP, _HEAD_ROW, _HEAD_SEP = ("┏", "━", "┳", "┓"), "┃", ("┡", "━", "╇", "┩")
_ROW, _ROW_SEP, _BOTTOM = "│", ("├", "─", "┼", "┤"), ("└", "─", "┴", "┘")


def _ratio_reduce(total, ratios, maximums, values):
    """rich's ``ratio_reduce``: take ``total`` away from ``values`` in proportion to ``ratios``."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return list(values)
    remaining, out = total, []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _column_widths(positions, line_length):
    """Content widths of the columns (without padding), as rich lays out Keras's table."""
    widths, current = [], 0
    for pos in positions:
        pos = pos if pos > 1 else pos * line_length  # positions may be absolute, as in Keras 2
        width = int(pos) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    padded = [w + 2 for w in widths]
    available = line_length - (len(widths) + 1)
    if sum(padded) > available:
        padded = _ratio_reduce(sum(padded) - available, [1] * len(padded), padded, padded)
    return [max(w - 2, 0) for w in padded]


def _wrap(text, width):
    """rich's word wrap: greedy over words (trailing spaces belong to a word), lines right-stripped, a line still
    too long cut to ``width - 1`` characters plus an ellipsis."""
    lines, line = [], ""
    for word in re.findall(r"\s*\S+\s*", text) or [""]:
        if line and len(line) + len(word.rstrip()) > width:
            lines.append(line.rstrip())
            line = word.lstrip() if not lines else word
        else:
            line += word
    lines.append(line.rstrip())
    return [ln if len(ln) <= width else ln[: max(width - 1, 0)] + "…" for ln in lines]


def _justify(text, width, how):
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text.ljust(width)


def _rule(parts, widths):
    left, fill, cross, right = parts
    return left + cross.join(fill * (w + 2) for w in widths) + right


def _render_row(cells, widths, aligns, vertical, bottom=False):
    """One table row; rich aligns header cells to the bottom of the row and body cells to the top."""
    wrapped = [_wrap(c, w) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    if bottom:
        wrapped = [[""] * (height - len(w)) + w for w in wrapped]
    out = []
    for i in range(height):
        parts = [_justify(w[i] if i < len(w) else "", width, a) for w, width, a in zip(wrapped, widths, aligns)]
        out.append(vertical + vertical.join(f" {p} " for p in parts) + vertical)
    return out


def render_table(header, rows, widths, aligns):
    lines = [_rule(_TOP, widths)]
    lines += _render_row(header, widths, aligns, _HEAD_ROW, bottom=True)
    lines.append(_rule(_HEAD_SEP, widths))
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(_ROW_SEP, widths))
        lines += _render_row(row, widths, aligns, _ROW)
    lines.append(_rule(_BOTTOM, widths))
    return lines


# ----------------------------------------------------------------------------------------------- the model
def readable_memory_size(size):
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _count(weights):
    unique = {id(w): w for w in weights}.values()
    count = sum(math.prod(w.shape) for w in unique)
    size = sum(math.prod(w.shape) * np.dtype(w.dtype).itemsize for w in unique)
    return int(count), size


def _shape_text(layer):
    if not layer._inbound_nodes:
        return "?"
    outs = layer._inbound_nodes[-1].outputs
    texts = ["(" + ", ".join(str(d) for d in t.shape) + ")" for t in outs]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _model_nodes(model):
    from ..layers.input_layer import InputLayer

    nodes = list(model._nodes)
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            nodes.append(layer._inbound_nodes[0])
    return nodes


def _sequential_like(model):
    """Keras's test: one node per depth, each with at most one input tensor, each layer called once."""
    from ..models.sequential import Sequential

    if isinstance(model, Sequential):
        return True
    nodes = _model_nodes(model)
    depth = {}
    producer = {}
    for node in nodes:
        for t in node.outputs:
            producer[id(t)] = node
    for node in reversed(model._nodes):
        d = depth.setdefault(id(node), 0)
        for t in node.inputs:
            parent = producer.get(id(t))
            if parent is not None:
                depth[id(parent)] = max(depth.get(id(parent), 0), d + 1)
    for node in nodes:
        depth.setdefault(id(node), 0)
    per_depth = {}
    for node in nodes:
        per_depth.setdefault(depth[id(node)], []).append(node)
        if len(node.inputs) > 1:
            return False
    if any(len(v) > 1 for v in per_depth.values()):
        return False
    layers = [n.layer for n in nodes]
    return len(layers) == len({id(la) for la in layers})


def _connections(layer, model_node_ids):
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in model_node_ids:
            continue
        for t in node.inputs:
            source, node_index, tensor_index = t._keras_history
            parts.append(f"{source.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts) if parts else "-"


def _optimizer_totals(model):
    from . import optimizer_state

    opt = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or opt is None or optimizer_state._arena(model) is None:
        return None
    state = optimizer_state.get_state(model)
    count = sum(int(np.size(v)) for v in state)
    # Keras's iteration counter is an int32 variable under JAX (4 bytes), whatever dtype we keep it in.
    size = 4 + sum(int(np.size(v)) * np.asarray(v).dtype.itemsize for v in state[1:])
    return count, size


def summary_text(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                 layer_range=None):
    """The text ``model.summary()`` prints (Keras 3's layout; ends with a newline)."""
    from ..models.functional import Model
    from ..models.sequential import Sequential

    model._require_graph()
    sequential_like = _sequential_like(model)
    if sequential_like:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        header, aligns = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        aligns = ["left", "left", "right", "left"]
    positions = list(positions)
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        aligns.append("center")
    default = min(default, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default
    widths = _column_widths(positions, line_length)
    node_ids = {id(n) for n in _model_nodes(model)}

    def fields(layer, prefix=""):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", _shape_text(layer), params]
        if not sequential_like:
            row.append(_connections(layer, node_ids))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def rows_of(layer, level=0):
        rows = [fields(layer, "   " * level + "└ " if level else "")]
        if expand_nested and isinstance(layer, Model) and layer.layers:
            for inner in layer.layers:
                rows += rows_of(inner, level + 1)
        return rows

    layers = model.layers if isinstance(model, Sequential) else list(model.layers)
    start, stop = _layer_bounds(layers, layer_range)
    rows = []
    for layer in layers[start:stop]:
        rows += rows_of(layer)
    trainable, trainable_size = _count(model.trainable_weights)
    frozen, frozen_size = _count(model.non_trainable_weights)
    optimizer = _optimizer_totals(model)
    total = trainable + frozen + (optimizer[0] if optimizer else 0)
    total_size = trainable_size + frozen_size + (optimizer[1] if optimizer else 0)
    lines = [f'Model: "{model.name}"'] + render_table(header, rows, widths, aligns)
    lines += [f" Total params: {total:,} ({readable_memory_size(total_size)})",
              f" Trainable params: {trainable:,} ({readable_memory_size(trainable_size)})",
              f" Non-trainable params: {frozen:,} ({readable_memory_size(frozen_size)})"]
    if optimizer:
        lines.append(f" Optimizer params: {optimizer[0]:,} ({readable_memory_size(optimizer[1])})")
    return "\n".join(lines) + "\n"


def _layer_bounds(layers, layer_range):
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(f"layer_range must be a list or tuple of length 2. Received: layer_range = {layer_range} "
                         f"of length {len(layer_range)}")
    first = [i for i, la in enumerate(layers) if re.match(layer_range[0], la.name)]
    last = [i for i, la in enumerate(layers) if re.match(layer_range[1], la.name)]
    if not first or not last:
        raise ValueError(f"Passed layer_range does not match any layer names: {layer_range}")
    return first[0], last[-1] + 1


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Print ``summary_text``: ``print_fn`` gets the whole text in one call, as in Keras 3 (default: stdout)."""
    text = summary_text(model, line_length, positions, expand_nested, show_trainable, layer_range)
    if print_fn is None:
        print(text, end="")
    else:
        print_fn(text)
