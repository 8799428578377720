"""model.summary() prints Keras 3's text: compared with output captured from Keras 3.15.1 (and, where Keras is
installed, with Keras itself for more widths)."""

import os

import numpy as np
import pytest
from summary_expected import EXPECTED
from summary_models import MODELS, SCENARIOS

import nbkeras as keras


def _build(k, name, train):
    m = MODELS[name](k)
    if train:
        m.compile("adam", "mse")
        xs = [np.zeros((2,) + tuple(t.shape[1:]), "float32") for t in m.inputs]
        ys = [np.zeros((2,) + tuple(t.shape[1:]), "float32") for t in m.outputs]
        m.train_on_batch(xs[0] if len(xs) == 1 else xs, ys[0] if len(ys) == 1 else ys)
    return m


def _summary(model, **kwargs):
    got = []
    model.summary(print_fn=got.append, **kwargs)
    assert len(got) == 1  # Keras 3 hands print_fn the whole text at once
    return got[0]


@pytest.mark.parametrize("index", range(len(SCENARIOS)), ids=[f"{s[0]}-{i}" for i, s in enumerate(SCENARIOS)])
def test_summary_matches_keras_text(index, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    name, kwargs, train = SCENARIOS[index]
    assert _summary(_build(keras, name, train), **kwargs) == EXPECTED[index]


def test_default_width_follows_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")  # Keras caps the default at columns - 4
    keras.backend.clear_session() if hasattr(keras.backend, "clear_session") else None
    MODELS["mlp"](keras).summary()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines[1]) == 76 and lines[0] == 'Model: "mlp"'


@pytest.mark.parametrize("line_length", [40, 55, 90, 130])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_summary_matches_live_keras(name, line_length, monkeypatch):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras3 = pytest.importorskip("keras")
    monkeypatch.setenv("COLUMNS", "200")
    for show in (False, True):
        expected = _summary(MODELS[name](keras3), line_length=line_length, show_trainable=show)
        assert _summary(MODELS[name](keras), line_length=line_length, show_trainable=show) == expected


def test_too_narrow_raises():
    with pytest.raises(ValueError, match="Insufficient console width"):
        MODELS["mlp"](keras).summary(line_length=8)
