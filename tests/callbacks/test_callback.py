from nbkeras.callbacks import Callback

HOOKS_WITH_INDEX = [
    "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
]
HOOKS_WITHOUT_INDEX = [
    "on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
]


def test_defaults():
    cb = Callback()
    assert cb.model is None and cb.params is None and cb.validation_data is None


def test_every_hook_is_a_no_op_with_keras_signatures():
    cb = Callback()
    for name in HOOKS_WITH_INDEX:
        assert getattr(cb, name)(0) is None
        assert getattr(cb, name)(3, logs={"loss": 1.0}) is None
    for name in HOOKS_WITHOUT_INDEX:
        assert getattr(cb, name)() is None
        assert getattr(cb, name)(logs={"loss": 1.0}) is None


def test_set_model_and_set_params(model):
    cb = Callback()
    cb.set_model(model)
    cb.set_params({"epochs": 3})
    assert cb.model is model and cb.params == {"epochs": 3}


def test_keras2_style_assignment_to_model(model):
    class Old(Callback):
        def set_model(self, m):
            self.model = m

    cb = Old()
    cb.set_model(model)
    assert cb.model is model


class RecordsOldNames(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("begin", batch, logs))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("end", batch, logs))


def test_train_batch_hooks_call_keras2_aliases():
    cb = RecordsOldNames()
    cb.on_train_batch_begin(0)
    cb.on_train_batch_end(0, logs={"loss": 2.0})
    assert cb.calls == [("begin", 0, None), ("end", 0, {"loss": 2.0})]


def test_test_and_predict_batch_hooks_do_not_call_aliases():
    cb = RecordsOldNames()
    cb.on_test_batch_begin(0)
    cb.on_test_batch_end(0)
    cb.on_predict_batch_begin(0)
    cb.on_predict_batch_end(0)
    assert cb.calls == []


def test_overriding_new_name_skips_alias_unless_super_is_called():
    class NewName(RecordsOldNames):
        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("new", batch, logs))

    class NewNameWithSuper(RecordsOldNames):
        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("new", batch, logs))
            super().on_train_batch_end(batch, logs)

    cb = NewName()
    cb.on_train_batch_end(1)
    assert cb.calls == [("new", 1, None)]
    cb = NewNameWithSuper()
    cb.on_train_batch_end(1)
    assert cb.calls == [("new", 1, None), ("end", 1, None)]
