import numpy as np
import pytest

from nbkeras.callbacks import CallbackList, EarlyStopping


def run(callback, model, values, key="val_loss", set_weights_per_epoch=False):
    """Run epochs with `values` as the monitored metric until the callback stops training.

    Returns the number of epochs run. With `set_weights_per_epoch`, epoch i leaves every weight equal to i.
    """
    cbs = CallbackList([callback], model=model)
    model.stop_training = False
    cbs.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        cbs.on_epoch_begin(epoch)
        if set_weights_per_epoch:
            model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        cbs.on_epoch_end(epoch, {"loss": 0.0, key: value})
        epochs += 1
        if model.stop_training:
            break
    cbs.on_train_end()
    return epochs


def test_patience_counts_epochs_without_improvement(model):
    es = EarlyStopping(patience=2)
    # wait: 0 (first value), 0 (0.9 improves), 1, 2 -> stop at epoch 3.
    assert run(es, model, [1.0, 0.9, 0.95, 0.93, 0.8, 0.7]) == 4
    assert (es.stopped_epoch, es.best, es.wait, es.best_epoch) == (3, 0.9, 2, 1)
    assert model.stop_training


def test_patience_zero_stops_at_the_first_epoch_without_improvement(model):
    es = EarlyStopping(monitor="loss", patience=0)
    assert run(es, model, [1.0, 0.5, 0.5, 0.1], key="loss") == 3  # equal is not an improvement
    assert es.stopped_epoch == 2


def test_no_stop_while_improving(model):
    es = EarlyStopping(patience=0)
    assert run(es, model, [5.0, 4.0, 3.0, 2.0]) == 4
    assert es.stopped_epoch == 0 and not model.stop_training


def test_min_delta_is_the_smallest_improvement_and_its_sign_is_ignored(model):
    for min_delta in (0.1, -0.1):
        es = EarlyStopping(min_delta=min_delta, patience=1)
        # 0.95 is within 0.1 of 1.0: no improvement; wait 1 >= patience 1 -> stop at epoch 1.
        assert run(es, model, [1.0, 0.95, 0.5]) == 2
        assert es.best == 1.0
    es = EarlyStopping(min_delta=0.1, patience=1)
    assert run(es, model, [1.0, 0.85, 0.7, 0.65]) == 4  # 0.85 + 0.1 < 1.0 and 0.7 + 0.1 < 0.85; 0.65 is not


def test_mode_max(model):
    es = EarlyStopping(monitor="val_score", mode="max", patience=1)
    assert run(es, model, [0.5, 0.6, 0.55], key="val_score") == 3
    assert es.monitor_op is np.greater and es.best == 0.6


@pytest.mark.parametrize("monitor, maximise", [
    ("val_loss", False), ("loss", False), ("val_mae", False), ("val_output_loss", False),
    ("val_accuracy", True), ("acc", True), ("val_auc", True), ("val_binary_accuracy", True),
    ("val_precision", True), ("recall", True), ("val_f1_score", True), ("r2_score", True),
])
def test_mode_auto_infers_direction_from_the_name(model, monitor, maximise):
    es = EarlyStopping(monitor=monitor)
    run(es, model, [1.0], key=monitor)
    assert es.monitor_op is (np.greater if maximise else np.less)


def test_mode_auto_reads_a_declared_metric_direction(model):
    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    class Container:  # compiled metrics nest their members, as Keras 3's CompileMetrics does
        metrics = [Metric("custom_score", "up"), Metric("custom_error", "down")]

    model.metrics = [Container()]
    up, down = EarlyStopping(monitor="val_custom_score"), EarlyStopping(monitor="custom_error")
    run(up, model, [1.0], key="val_custom_score")
    run(down, model, [1.0], key="custom_error")
    assert up.monitor_op is np.greater and down.monitor_op is np.less


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'bigger' is unknown, fallback to auto mode."):
        es = EarlyStopping(mode="bigger")
    assert es.mode == "auto"


def test_baseline_not_beaten_keeps_wait_growing(model):
    # Without a baseline: wait 0, 1, 2 -> stop at epoch 2.
    assert run(EarlyStopping(patience=2), model, [1.0, 1.1, 1.2, 1.3]) == 3
    # With baseline 0.5: epoch 0 improves on nothing but misses the baseline, so wait stays 1 -> stop at epoch 1.
    es = EarlyStopping(patience=2, baseline=0.5)
    assert run(es, model, [1.0, 1.1, 1.2, 1.3]) == 2
    assert es.stopped_epoch == 1 and es.best == 1.0


def test_baseline_beaten_resets_wait(model):
    es = EarlyStopping(patience=2, baseline=0.5)
    # wait: 1 (misses baseline), 0 (0.4 beats it), 1, 2 -> stop at epoch 3.
    assert run(es, model, [1.0, 0.4, 0.45, 0.46, 0.3]) == 4
    assert es.best == 0.4


def test_restore_best_weights(model, capsys):
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    assert run(es, model, [1.0, 0.5, 0.7, 0.8, 0.1], set_weights_per_epoch=True) == 4
    assert es.best_epoch == 1
    assert all(np.all(w == 1) for w in model.weights)
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_restore_best_weights_also_when_training_ends_without_stopping(model, capsys):
    es = EarlyStopping(patience=5, restore_best_weights=True)
    assert run(es, model, [1.0, 0.5, 0.7], set_weights_per_epoch=True) == 3
    assert all(np.all(w == 1) for w in model.weights)
    assert capsys.readouterr().out == ""  # verbose=0


def test_restore_best_weights_with_unbeaten_baseline_restores_best_seen(model):
    es = EarlyStopping(patience=2, baseline=0.1, restore_best_weights=True)
    assert run(es, model, [1.0, 0.9, 0.95, 0.99], set_weights_per_epoch=True) == 3
    assert es.best_epoch == 1 and all(np.all(w == 1) for w in model.weights)


def test_without_restore_the_last_weights_stay(model):
    es = EarlyStopping(patience=1)
    run(es, model, [1.0, 2.0], set_weights_per_epoch=True)
    assert es.best_weights is None and all(np.all(w == 1) for w in model.weights)


def test_start_from_epoch_ignores_the_warm_up_epochs(model):
    assert run(EarlyStopping(patience=0), model, [1.0, 2.0, 3.0, 4.0, 5.0]) == 2
    es = EarlyStopping(patience=0, start_from_epoch=2)
    # Epochs 0 and 1 are not monitored; 3.0 at epoch 2 is the first best; 4.0 at epoch 3 stops.
    assert run(es, model, [1.0, 2.0, 3.0, 4.0, 5.0]) == 4
    assert (es.best, es.stopped_epoch) == (3.0, 3)


def test_missing_monitor_warns_and_does_not_stop(model):
    es = EarlyStopping(monitor="val_loss", patience=0)
    cbs = CallbackList([es], model=model)
    cbs.on_train_begin()
    for epoch in range(3):
        with pytest.warns(UserWarning) as record:
            cbs.on_epoch_end(epoch, {"mae": 0.5, "loss": 1.0 + epoch})
        assert str(record[0].message) == (
            "Early stopping conditioned on metric `val_loss` which is not available. "
            "Available metrics are: loss,mae"
        )
    assert not model.stop_training and es.wait == 0 and es.best is None


def test_reuse_across_fits_resets_state(model):
    es = EarlyStopping(patience=1)
    assert run(es, model, [1.0, 2.0]) == 2
    assert run(es, model, [5.0, 4.0, 3.0]) == 3  # best from the first fit (1.0) is forgotten
    assert es.stopped_epoch == 0 and es.best == 3.0


def test_keras2_positional_arguments(model):
    es = EarlyStopping("loss", 0.0, 1, 0, "min", None, True)
    assert (es.monitor, es.patience, es.mode, es.restore_best_weights, es.start_from_epoch) == (
        "loss", 1, "min", True, 0)
    assert run(es, model, [1.0, 1.0], key="loss") == 2
