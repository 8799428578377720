"""plot_model writes Graphviz DOT itself; other formats need the `dot` program, named in the error."""

import shutil

import pytest

import nbkeras as keras
from nbkeras.saving.plot_model import model_to_dot, plot_model


def _model():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(5, activation="relu", name="h")(a)
    c = keras.layers.Concatenate(name="cat")([h, b])
    return keras.Model([a, b], keras.layers.Dense(1, name="out")(c), name="g")


def test_dot_text(tmp_path):
    dot = model_to_dot(_model(), show_shapes=True, show_layer_activations=True, show_trainable=True)
    assert dot.startswith('digraph "g" {') and dot.rstrip().endswith("}")
    for label in ("a (InputLayer)", "h (Dense)", "cat (Concatenate)", "Activation: relu",
                  "Output shape: (None, 8)", "Trainable: Y"):
        assert label in dot
    assert dot.count("->") == 4
    plot_model(_model(), to_file=tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text().startswith("digraph")


def test_png_needs_dot(tmp_path, monkeypatch):
    if shutil.which("dot") is None:
        with pytest.raises(RuntimeError, match="Graphviz's `dot` program"):
            plot_model(_model(), to_file=tmp_path / "m.png")
        assert not (tmp_path / "m.png").exists()
    else:
        plot_model(_model(), to_file=tmp_path / "m.png")
        assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="`dot`"):
        plot_model(_model(), to_file=tmp_path / "m.svg")
