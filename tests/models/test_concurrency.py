"""One model used from many threads: inference gives the single-thread numbers, lazy plan/engine creation happens
once, evaluate keeps its metric sums per call, and a second training call raises instead of corrupting weights."""

import threading

import numpy as np
import pytest

import nbkeras as keras


def mlp(compiled=True, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    if compiled:
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=512, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), rng.integers(0, 3, size=n)


def run_threads(count, work):
    """Run ``work(i)`` in ``count`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def body(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def test_concurrent_inference_matches_one_thread():
    model = mlp()
    x, y = data()
    model.fit(x, y, batch_size=32, verbose=0)
    rows = [x[i:i + 1] for i in range(0, 512, 16)]
    single_rows = [model.predict(r, verbose=0) for r in rows]
    whole = model.predict(x, batch_size=64, verbose=0)
    on_batch = model.predict_on_batch(x[:100])
    called = np.asarray(model(x[:50]))

    def work(i):
        for _ in range(3):
            for r, want in zip(rows, single_rows):
                np.testing.assert_array_equal(model.predict(r, verbose=0), want)
            np.testing.assert_array_equal(model.predict(x, batch_size=64, verbose=0), whole)
            np.testing.assert_array_equal(model.predict_on_batch(x[:100]), on_batch)
            np.testing.assert_allclose(np.asarray(model(x[:50])), called, rtol=1e-6)
        return True

    assert all(run_threads(4, work))


def test_concurrent_evaluate_keeps_its_own_sums():
    model = mlp()
    x, y = data()
    parts = [(x[i * 128:(i + 1) * 128], y[i * 128:(i + 1) * 128]) for i in range(4)]
    expected = [model.evaluate(px, py, batch_size=16, verbose=0, return_dict=True) for px, py in parts]

    def work(i):
        px, py = parts[i]
        return [model.evaluate(px, py, batch_size=16, verbose=0, return_dict=True) for _ in range(5)]

    for got, want in zip(run_threads(4, work), expected):
        for logs in got:
            assert logs == pytest.approx(want, rel=1e-12)


def test_lazy_engine_creation_is_race_free():
    for _ in range(3):
        model = mlp(compiled=False, seed=2)
        x, _ = data(n=64)
        results = run_threads(8, lambda i: model.predict(x, verbose=0))
        engine = model._forward_engine
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
        assert model._inference_engine() is engine  # created once, kept
    compiled = mlp(seed=2)
    x, y = data(n=64)
    logs = run_threads(6, lambda i: compiled.evaluate(x, y, verbose=0, return_dict=True))
    assert all(entry == logs[0] for entry in logs)


def test_second_training_call_raises_while_fit_runs():
    model = mlp()
    x, y = data()
    entered, release = threading.Event(), threading.Event()

    def hold(epoch, logs):
        entered.set()
        assert release.wait(timeout=60)

    cb = keras.callbacks.LambdaCallback(on_epoch_begin=hold)
    worker = threading.Thread(target=lambda: model.fit(x, y, epochs=1, callbacks=[cb], verbose=0))
    worker.start()
    try:
        assert entered.wait(timeout=120)
        before = [w.copy() for w in model.get_weights()]
        with pytest.raises(RuntimeError, match="already being trained"):
            model.fit(x, y, verbose=0)
        with pytest.raises(RuntimeError, match="already being trained"):
            model.train_on_batch(x[:8], y[:8])
        for a, b in zip(before, model.get_weights()):
            np.testing.assert_array_equal(a, b)  # the refused calls changed nothing
        assert model.predict(x[:4], verbose=0).shape == (4, 3)  # inference still works meanwhile
    finally:
        release.set()
        worker.join(timeout=120)
    model.fit(x, y, epochs=1, verbose=0)  # free again once the first fit ended
    model.train_on_batch(x[:8], y[:8])
