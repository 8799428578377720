from nbkeras.callbacks import CallbackList, LambdaCallback


def test_calls_the_given_functions_with_keras_arguments():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs)),
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_train_end=lambda logs: calls.append(("train_end", logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch, logs)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs)),
        on_test_end=lambda logs: calls.append(("test_end", logs)),
    )
    cbs = CallbackList([cb])
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    cbs.on_test_begin()
    cbs.on_test_end({"loss": 2.0})
    cbs.on_epoch_end(0, {"loss": 1.0})
    cbs.on_train_end({"loss": 1.0})
    assert calls == [
        ("train_begin", {}), ("epoch_begin", 0, {}), ("batch_begin", 0, {}), ("batch_end", 0, {"loss": 1.0}),
        ("test_end", {"loss": 2.0}), ("epoch_end", 0, {"loss": 1.0}), ("train_end", {"loss": 1.0}),
    ]


def test_keras2_batch_names_are_reached_through_the_training_batch_hooks():
    calls = []
    cb = LambdaCallback(on_batch_begin=lambda batch, logs: calls.append(("begin", batch)),
                        on_batch_end=lambda batch, logs: calls.append(("end", batch)))
    cbs = CallbackList([cb])
    cbs.on_train_batch_begin(5)
    cbs.on_train_batch_end(5)
    assert calls == [("begin", 5), ("end", 5)]
    assert cbs.needs_batch_hooks("train")


def test_unset_hooks_stay_no_ops():
    cb = LambdaCallback()
    assert cb.on_epoch_end(0, {}) is None and cb.on_train_batch_end(0) is None
    assert not CallbackList([cb]).needs_batch_hooks("train")
