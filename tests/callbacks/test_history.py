from nbkeras.callbacks import CallbackList, History


def run_fit(callbacks, epoch_logs):
    callbacks.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, logs)
    callbacks.on_train_end(epoch_logs[-1])


def test_records_each_epoch(model):
    history = History()
    run_fit(CallbackList([history], model=model), [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}])
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]}
    assert history.epoch == [0, 1]
    assert model.history is history


def test_a_new_fit_resets_epoch_but_keeps_appending_to_history(model):
    # Keras 3: on_train_begin clears `epoch` only; a History reused across fits accumulates values.
    history = History()
    cbs = CallbackList([history], model=model)
    run_fit(cbs, [{"loss": 1.0}])
    run_fit(cbs, [{"loss": 0.9}, {"loss": 0.8}])
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [1.0, 0.9, 0.8]}


def test_keys_appearing_later_start_their_own_list(model):
    history = History()
    run_fit(CallbackList([history], model=model), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.7}])
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [0.7]}


def test_params_are_stored(model):
    CallbackList([], add_history=True, model=model, verbose=0, epochs=3, steps=4)
    assert model.history.params == {"verbose": 0, "epochs": 3, "steps": 4}
