import numpy as np
import pytest

from nbkeras.callbacks import (
    Callback, CallbackList, EarlyStopping, History, LambdaCallback, ProgbarLogger, TerminateOnNaN,
)
from test_callback import HOOKS_WITH_INDEX, HOOKS_WITHOUT_INDEX


class Recorder(Callback):
    """Records every hook call as (tag, hook name, args)."""

    def __init__(self, tag, calls):
        super().__init__()
        self.tag, self.calls = tag, calls

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: self.calls.append((self.tag, name, args, kwargs))
        return super().__getattribute__(name)


def test_forwards_every_hook_to_every_callback_in_order():
    calls = []
    cbs = CallbackList([Recorder("a", calls), Recorder("b", calls)])
    for name in HOOKS_WITH_INDEX:
        getattr(cbs, name)(7, {"loss": 1.0})
    for name in HOOKS_WITHOUT_INDEX:
        getattr(cbs, name)({"loss": 1.0})
    expected = []
    for name in HOOKS_WITH_INDEX:
        # Keras passes logs by keyword to batch hooks and positionally to epoch hooks.
        by_keyword = "batch" in name
        for tag in "ab":
            expected.append((tag, name, (7,), {"logs": {"loss": 1.0}}) if by_keyword
                            else (tag, name, (7, {"loss": 1.0}), {}))
    for name in HOOKS_WITHOUT_INDEX:
        expected += [(tag, name, ({"loss": 1.0},), {}) for tag in "ab"]
    assert calls == expected


def test_on_train_batch_reaches_keras2_alias_through_the_list():
    seen = []

    class Old(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs))

    cbs = CallbackList([Old()])
    cbs.on_train_batch_end(4, {"loss": np.float32(0.5)})
    assert seen == [(4, {"loss": 0.5})]


def test_logs_are_sorted_flattened_and_made_python_floats():
    received = []
    cbs = CallbackList([LambdaCallback(on_epoch_end=lambda epoch, logs: received.append(logs))])
    outputs = np.ones((2, 3))
    cbs.on_epoch_end(0, {"val_loss": np.float64(0.25), "loss": np.array(0.5, "float32"), "extra": {"acc": 1},
                         "outputs": outputs})
    (logs,) = received
    assert list(logs) == ["acc", "loss", "outputs", "val_loss"]
    assert type(logs["loss"]) is float and logs["loss"] == 0.5
    assert type(logs["acc"]) is float and type(logs["val_loss"]) is float
    assert logs["outputs"] is outputs


def test_one_logs_dict_is_shared_by_the_callbacks_of_a_hook_call():
    def add_key(epoch, logs):
        logs["learning_rate"] = 0.1

    history = History()
    cbs = CallbackList([LambdaCallback(on_epoch_end=add_key), history])
    trainer_logs = {"loss": 1.0}
    cbs.on_train_begin()
    cbs.on_epoch_end(0, trainer_logs)
    assert history.history == {"loss": [1.0], "learning_rate": [0.1]}
    assert trainer_logs == {"loss": 1.0}


def test_adds_history_and_progbar_in_that_order(model):
    user = Callback()
    cbs = CallbackList([user], add_history=True, add_progbar=True, model=model, verbose=2, epochs=1, steps=1)
    assert [type(cb) for cb in cbs.callbacks] == [Callback, History, ProgbarLogger]
    assert model.history is cbs.callbacks[1]
    for cb in cbs.callbacks:
        assert cb.model is model
        assert cb.params == {"verbose": 2, "epochs": 1, "steps": 1}


def test_does_not_duplicate_history_or_progbar_given_by_the_user(model):
    history, progbar = History(), ProgbarLogger()
    cbs = CallbackList([progbar, history], add_history=True, add_progbar=True, model=model,
                       verbose=1, epochs=1, steps=1)
    assert cbs.callbacks == [progbar, history]
    assert model.history is history


def test_no_defaults_unless_asked_and_no_params_forwarded_when_empty():
    cb = Callback()
    cbs = CallbackList([cb])
    assert cbs.callbacks == [cb]
    assert cb.params is None and cb.model is None


def test_flattens_nested_lists_and_supports_append_and_iteration():
    a, b, c = Callback(), Callback(), Callback()
    cbs = CallbackList([a, [b]])
    cbs.append(c)
    assert list(cbs) == [a, b, c]
    assert CallbackList(None).callbacks == []


def test_needs_batch_hooks_is_false_for_the_base_class_and_builtin_epoch_callbacks():
    cbs = CallbackList([Callback(), History(), EarlyStopping()])
    assert not any(cbs.needs_batch_hooks(mode) for mode in ("train", "test", "predict"))


@pytest.mark.parametrize("hook, modes", [
    ("on_batch_begin", {"train"}),
    ("on_batch_end", {"train"}),
    ("on_train_batch_begin", {"train"}),
    ("on_train_batch_end", {"train"}),
    ("on_test_batch_begin", {"test"}),
    ("on_test_batch_end", {"test"}),
    ("on_predict_batch_begin", {"predict"}),
    ("on_predict_batch_end", {"predict"}),
])
def test_needs_batch_hooks_detects_an_override(hook, modes):
    subclass = type("Custom", (Callback,), {hook: lambda self, batch, logs=None: None})
    cbs = CallbackList([Callback(), subclass()])
    assert {mode for mode in ("train", "test", "predict") if cbs.needs_batch_hooks(mode)} == modes


def test_needs_batch_hooks_sees_lambda_callback_functions():
    assert CallbackList([LambdaCallback(on_train_batch_end=lambda b, logs: None)]).needs_batch_hooks("train")
    assert CallbackList([LambdaCallback(on_batch_begin=lambda b, logs: None)]).needs_batch_hooks("train")
    assert CallbackList([LambdaCallback(on_test_batch_end=lambda b, logs: None)]).needs_batch_hooks("test")
    assert not CallbackList([LambdaCallback(on_epoch_end=lambda e, logs: None)]).needs_batch_hooks("train")


def test_needs_batch_hooks_for_terminate_on_nan():
    cbs = CallbackList([TerminateOnNaN()])
    assert cbs.needs_batch_hooks("train")
    assert not cbs.needs_batch_hooks("test") and not cbs.needs_batch_hooks("predict")


def progbar_list(verbose, steps=6):
    return CallbackList([], add_progbar=True, verbose=verbose, epochs=2, steps=steps)


def test_needs_batch_hooks_progbar_live_bar_on_a_terminal(terminal):
    cbs = progbar_list(verbose=1)
    assert all(cbs.needs_batch_hooks(mode) for mode in ("train", "test", "predict"))
    cbs.on_train_begin()
    # Validation inside fit is silent, so it needs no per-batch calls.
    assert cbs.needs_batch_hooks("train") and not cbs.needs_batch_hooks("test")


def test_needs_batch_hooks_progbar_one_line_per_epoch(terminal):
    cbs = progbar_list(verbose=2)
    assert not any(cbs.needs_batch_hooks(mode) for mode in ("train", "test", "predict"))
    assert not any(progbar_list(verbose=0).needs_batch_hooks(mode) for mode in ("train", "test", "predict"))


def test_needs_batch_hooks_progbar_verbose_1_without_terminal():
    # stdout is pytest's capture here, not a terminal: verbose=1 prints one line per epoch.
    cbs = progbar_list(verbose=1)
    assert not any(cbs.needs_batch_hooks(mode) for mode in ("train", "test", "predict"))


def test_needs_batch_hooks_progbar_counts_batches_when_steps_are_unknown():
    assert progbar_list(verbose=2, steps=None).needs_batch_hooks("train")
    assert not progbar_list(verbose=0, steps=None).needs_batch_hooks("train")


def test_needs_batch_hooks_progbar_subclass_override():
    class Chatty(ProgbarLogger):
        def on_train_batch_begin(self, batch, logs=None):
            pass

    cbs = CallbackList([Chatty()], verbose=2, epochs=1, steps=3)
    assert cbs.needs_batch_hooks("train") and not cbs.needs_batch_hooks("test")


def test_needs_batch_hooks_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be 'train', 'test' or 'predict'"):
        CallbackList([]).needs_batch_hooks("validate")
