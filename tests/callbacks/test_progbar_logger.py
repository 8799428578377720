import re

import pytest

from nbkeras.callbacks import CallbackList, ProgbarLogger
from nbkeras.callbacks.progbar_logger import resolve_verbose

EPOCH_1 = {"val_mae": 1.0033, "loss": 1.64531, "val_loss": 1.2895, "mae": 1.1474}  # the list sorts the keys
EPOCH_2 = {"loss": 0.0001, "mae": -1.5, "val_loss": 1234.56789, "val_mae": 0.001}


def fit(clock, cbs, epochs_logs, steps=6, seconds=(0.036, 12.3), batch_hooks=False):
    """Drive the hooks as fit does; validation goes through the test hooks before each epoch end."""
    cbs.on_train_begin()
    for epoch, logs in enumerate(epochs_logs):
        cbs.on_epoch_begin(epoch)
        for batch in range(steps if batch_hooks else 0):
            cbs.on_train_batch_begin(batch)
            cbs.on_train_batch_end(batch, {"loss": 9.0})
        clock.advance(seconds[epoch])
        cbs.on_test_begin()
        cbs.on_test_batch_end(0, {"loss": 5.0})
        cbs.on_test_end({"loss": logs["val_loss"]})
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end(epochs_logs[-1])


@pytest.mark.parametrize("verbose", [2, 1, "auto"])  # 1 and "auto" print the plain lines too: stdout is no terminal
def test_one_line_per_epoch_matches_keras(capsys, clock, model, verbose):
    cbs = CallbackList([], add_history=True, add_progbar=True, model=model, verbose=verbose, epochs=2, steps=6)
    fit(clock, cbs, [EPOCH_1, EPOCH_2])
    out = capsys.readouterr().out
    assert out == (
        "Epoch 1/2\n"
        "6/6 - 0s - 6ms/step - loss: 1.6453 - mae: 1.1474 - val_loss: 1.2895 - val_mae: 1.0033\n"
        "Epoch 2/2\n"
        # Keras's plain line tests `value > 1e-3`, not its absolute value: small and negative numbers go to
        # scientific notation. Whole seconds round to even (12.3 s -> 12s, 2.05 s/step -> 2s/step).
        "6/6 - 12s - 2s/step - loss: 1.0000e-04 - mae: -1.5000e+00 - val_loss: 1234.5679 - val_mae: 1.0000e-03\n"
    )
    assert "\x1b" not in out and "\r" not in out


def test_plain_line_ignores_batch_logs(capsys, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=2, epochs=2, steps=6)
    fit(clock, cbs, [EPOCH_1, EPOCH_2], batch_hooks=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "6/6 - 0s - 6ms/step - loss: 1.6453 - mae: 1.1474 - val_loss: 1.2895 - val_mae: 1.0033"


def test_single_epoch_prints_no_epoch_header(capsys, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=2, epochs=1, steps=6)
    fit(clock, cbs, [{"loss": 0.5, "val_loss": 0.25}])
    assert capsys.readouterr().out == "6/6 - 0s - 6ms/step - loss: 0.5000 - val_loss: 0.2500\n"


def test_verbose_0_prints_nothing(capsys, clock, model):
    cbs = CallbackList([ProgbarLogger()], model=model, verbose=0, epochs=2, steps=6)
    fit(clock, cbs, [EPOCH_1, EPOCH_2], batch_hooks=True)
    cbs.on_predict_begin()
    cbs.on_predict_batch_end(0, {"outputs": [1.0]})
    cbs.on_predict_end()
    assert capsys.readouterr().out == ""


def test_evaluate_prints_one_line(capsys, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=2, epochs=1, steps=3)
    cbs.on_test_begin()
    for batch in range(3):
        cbs.on_test_batch_end(batch, {"loss": 0.1})
    clock.advance(0.0015)
    cbs.on_test_end({"loss": 0.5, "accuracy": 0.75})
    assert capsys.readouterr().out == "3/3 - 0s - 500us/step - accuracy: 0.7500 - loss: 0.5000\n"


def test_predict_with_unknown_steps_counts_batches(capsys, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=2, epochs=1, steps=None)
    cbs.on_predict_begin()
    for batch in range(12):
        cbs.on_predict_batch_end(batch, {"outputs": [[0.0]]})
    clock.advance(0.3)
    cbs.on_predict_end()
    assert capsys.readouterr().out == "12/12 - 0s - 25ms/step\n"


def test_unknown_steps_are_learned_in_the_first_epoch(capsys, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=2, epochs=2, steps=None)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for batch in range(4):
        cbs.on_train_batch_end(batch, {"loss": 1.0})
    clock.advance(0.04)
    cbs.on_epoch_end(0, {"loss": 1.0})
    assert not cbs.needs_batch_hooks("train")  # the count is known from now on
    cbs.on_epoch_begin(1)
    clock.advance(0.04)
    cbs.on_epoch_end(1, {"loss": 0.5})
    assert capsys.readouterr().out == (
        "Epoch 1/2\n4/4 - 0s - 10ms/step - loss: 1.0000\nEpoch 2/2\n4/4 - 0s - 10ms/step - loss: 0.5000\n"
    )


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_live_bar_on_a_terminal_redraws_in_place_and_throttles(terminal, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=1, epochs=2, steps=6)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    clock.advance(0.01)
    cbs.on_train_batch_end(0, {"loss": 2.0})
    for batch in range(1, 6):  # 6 ms apart: within Keras's 0.05 s redraw interval, so not drawn
        clock.advance(0.006)
        cbs.on_train_batch_end(batch, {"loss": 1.6})
    cbs.on_epoch_end(0, {"loss": 1.5, "val_loss": 1.25})
    out = terminal.getvalue()
    assert out.startswith("Epoch 1/2\n\r")
    assert out.count("\r") == 2 and "\x1b[1m" in out and out.endswith("\n")
    first, final = strip_ansi(out).split("\r")[1:]
    bar = "\u2501" * 20
    assert first == f"1/6 {bar} 0s 10ms/step - loss: 2.0000"
    # The first step (compilation in real runs) is left out of the per-step time once more steps are known.
    assert final == f"6/6 {bar} 0s 6ms/step - loss: 1.5000 - val_loss: 1.2500\n"


def test_live_bar_pads_over_a_longer_previous_line(terminal, clock, model):
    cbs = CallbackList([], add_progbar=True, model=model, verbose=1, epochs=1, steps=2)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    clock.advance(3700)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    clock.advance(0.1)
    cbs.on_epoch_end(0, {"loss": 1.0})
    first, final = strip_ansi(terminal.getvalue()).split("\r")[1:]
    assert first.endswith(" 1:01:40 3700s/step - loss: 1.0000")  # ETA while running, elapsed time at the end
    assert final.endswith(" 3700s 100ms/step - loss: 1.0000  \n")  # two spaces blank the longer first line
    assert len(final) == len(first) + 1


def test_resolve_verbose(terminal):
    assert resolve_verbose("auto") == 1
    assert [resolve_verbose(v) for v in (0, 1, 2)] == [0, 1, 2]


def test_resolve_verbose_without_terminal():
    assert resolve_verbose("auto") == 2


def test_keras2_arguments():
    ProgbarLogger(count_mode="samples", stateful_metrics=["acc"])
    with pytest.raises(ValueError, match="Unknown `count_mode`: bars"):
        ProgbarLogger(count_mode="bars")
