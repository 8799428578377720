"""``plot_model`` / ``model_to_dot``: the model's graph in Graphviz's DOT language, written by nbkeras itself.

A ``.dot`` (or ``.gv``) file is the DOT text. Other extensions (png, svg, pdf, jpg, ...) are rendered by running
Graphviz's ``dot`` program when it is on PATH; without it, a RuntimeError says so (nbkeras needs neither pydot nor
the graphviz Python package). Node labels follow Keras: ``name (Class)``, plus shapes, dtypes, activation and
trainable flag when asked.
"""

import os
import shutil
import subprocess

from .file_io import atomic_write


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(tensors):
    shapes = [str(tuple(t.shape)).replace(",)", ")") for t in tensors]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    parts = [f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__]
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None:
        parts.append(f"Activation: {getattr(activation, 'name', activation)}")
    if show_dtype:
        parts.append(f"dtype: {layer.dtype}")
    if show_shapes and layer._inbound_nodes:
        node = layer._inbound_nodes[-1]
        if node.inputs:
            parts.append(f"Input shape: {_shape(node.inputs)}")
        parts.append(f"Output shape: {_shape(node.outputs)}")
    if show_trainable and layer.weights:
        parts.append(f"Trainable: {'Y' if layer.trainable else 'N'}")
    return "\n".join(parts)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 **kwargs):
    """The DOT text of ``model``'s layer graph (one node per layer, one edge per tensor between layers)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR', got {rankdir!r}")
    from ..models.sequential import Sequential

    model._require_graph()
    layers = list(model.layers)
    if isinstance(model, Sequential) and model._input_layer is not None:
        layers.insert(0, model._input_layer)
    ids = {id(layer): f"n{i}" for i, layer in enumerate(layers)}
    lines = [f"digraph {_quote(model.name)} {{", f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
             "  node [shape=record, fontname=Helvetica];"]
    for layer in layers:
        label = _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable)
        lines.append(f"  {ids[id(layer)]} [label={_quote(label)}];")
    edges = set()
    for node in model._nodes:
        for t in node.inputs:
            source = t._keras_history[0]
            if id(source) in ids and id(node.layer) in ids:
                edge = (ids[id(source)], ids[id(node.layer)])
                if edge not in edges:
                    edges.add(edge)
                    lines.append(f"  {edge[0]} -> {edge[1]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Write the model's graph to ``to_file``: DOT text for ``.dot``/``.gv``, else rendered by Graphviz's
    ``dot`` (RuntimeError naming the program when it is not installed)."""
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1].lstrip(".").lower() or "png"
    if extension in ("dot", "gv"):
        with atomic_write(to_file) as f:
            f.write(dot.encode("utf-8"))
        return None
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(f"plot_model: rendering {to_file!r} as {extension} needs Graphviz's `dot` program, which "
                           f"was not found on PATH. Install Graphviz (e.g. `apt-get install graphviz`), or save the "
                           f"graph as DOT text with to_file='model.dot'.")
    result = subprocess.run([program, f"-T{extension}"], input=dot.encode("utf-8"), capture_output=True,
                            timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"plot_model: `dot -T{extension}` failed: {result.stderr.decode(errors='replace')}")
    with atomic_write(to_file) as f:
        f.write(result.stdout)
    return None
