"""The CUDA interpreter (nbkeras/models/cuda_engine.py) against the CPU path, on numba's CUDA simulator.

A model trained for a few steps on the (simulated) GPU must match the same model trained on the CPU -- weights,
history, evaluate and predict -- to float32 tolerance, for an MLP, a CNN with BatchNormalization and a GRU
(issue 11). The simulator runs every CUDA thread as a Python thread, so the shapes are tiny.
"""

import numpy as np
import pytest

pytest.importorskip("numba.cuda", reason="the [cuda] extra (numba-cuda) is not installed")

import nbkeras as keras
from nbkeras import devices

if not devices.simulator_enabled() and not devices.real_gpu_available():
    pytest.skip("neither numba's CUDA simulator nor a GPU", allow_module_level=True)

L = keras.layers
RTOL, ATOL = 2e-4, 2e-5


def _mlp():
    return keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3, activation="softmax")])


def _cnn():
    return keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                             L.MaxPooling2D(2), L.Flatten(), L.Dense(3, activation="softmax")])


def _gru():
    return keras.Sequential([keras.Input((5, 2)), L.GRU(4), L.Dense(3, activation="softmax")])


def _data(shape, n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype("float32")
    y = rng.integers(0, 3, size=n).astype("int64")
    return x, y


def _pair(build, optimizer="adam"):
    """The same model and weights twice: one compiled for the CPU, one inside a GPU scope."""
    keras.utils.set_random_seed(3)
    cpu = build()
    cpu.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with keras.device("gpu:0"):
        gpu = build()
        gpu.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    gpu.set_weights(cpu.get_weights())
    return cpu, gpu


def _assert_same_training(cpu, gpu, x, y, epochs=2, batch_size=8):
    h_cpu = cpu.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history
    h_gpu = gpu.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history
    assert type(gpu._engine).__name__ == "CudaEngine" and type(cpu._engine).__name__ == "CompiledEngine"
    assert h_cpu.keys() == h_gpu.keys()
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=RTOL, atol=ATOL, err_msg=key)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gpu.predict(x, batch_size=10, verbose=0), cpu.predict(x, batch_size=10, verbose=0),
                               rtol=RTOL, atol=ATOL)
    assert gpu._engine.launches_per_step > 0


def test_mlp_matches_cpu():
    cpu, gpu = _pair(_mlp)
    x, y = _data((6,))
    _assert_same_training(cpu, gpu, x, y)
    assert gpu.optimizer.iterations == cpu.optimizer.iterations == 6


def test_cnn_with_batch_normalization_matches_cpu():
    cpu, gpu = _pair(_cnn)
    x, y = _data((6, 6, 1), n=16)
    _assert_same_training(cpu, gpu, x, y, epochs=1)
    bn_cpu, bn_gpu = cpu.layers[1], gpu.layers[1]
    np.testing.assert_allclose(bn_gpu.moving_mean.numpy(), bn_cpu.moving_mean.numpy(), rtol=RTOL, atol=ATOL)


def test_fused_convolution_and_pooling_match_cpu():
    """Conv2D(relu) -> MaxPooling2D fuses (nbkeras/models/fuse_conv_pool.py) into one call each way, on the device
    too (the CUDA twins of conv.conv2d_max_pool2d_forward / _backward)."""
    def build():
        return keras.Sequential([keras.Input((7, 7, 2)), L.Conv2D(3, 3, activation="relu"), L.MaxPooling2D(2),
                                 L.Flatten(), L.Dense(3, activation="softmax")])

    cpu, gpu = _pair(build)
    x, y = _data((7, 7, 2), n=16)
    _assert_same_training(cpu, gpu, x, y, epochs=1)
    assert "conv.conv2d_max_pool2d_backward" in [c.fn for c in gpu._plan.program.calls()]


def test_gru_matches_cpu():
    cpu, gpu = _pair(_gru)
    x, y = _data((5, 2), n=16)
    _assert_same_training(cpu, gpu, x, y, epochs=1)


def test_host_writes_reach_the_device_and_device_results_reach_the_host():
    cpu, gpu = _pair(_mlp, optimizer="sgd")
    x, y = _data((6,), n=8)
    gpu.fit(x, y, batch_size=8, epochs=1, verbose=0)
    cpu.fit(x, y, batch_size=8, epochs=1, verbose=0)
    fresh = [w * 0.5 for w in cpu.get_weights()]
    cpu.set_weights(fresh)
    gpu.set_weights(fresh)  # a host write after the device trained: the next chunk must upload it
    cpu.fit(x, y, batch_size=8, epochs=1, verbose=0)
    gpu.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)


def test_dropout_draws_its_uniforms_on_the_device():
    keras.utils.set_random_seed(0)
    with keras.device("gpu:0"):
        model = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu"), L.Dropout(0.5), L.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    x, _ = _data((6,), n=16)
    before = model.get_weights()
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)
    assert model._engine._states is not None  # device generator states were made
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # inference: no dropout


def test_a_predict_program_of_ops_matches_cpu():
    """A chain of ops predicted before compile(): its program reads the input and writes the result in place on
    the CPU (nbkeras/models/predict_io.py); the device gathers the rows instead (data.input_rows's twin)."""
    from nbkeras import ops

    def build():
        inp = keras.Input((6,))
        return keras.Model(inp, ops.tanh(inp * 2.0 + 1.0) * ops.exp(-inp))

    x, _ = _data((6,), n=14)
    cpu = build()
    with keras.device("gpu:0"):
        gpu = build()
        got = gpu.predict(x, batch_size=5, verbose=0)
    assert type(gpu._inference_engine()).__name__ == "CudaEngine"
    assert gpu._inference_engine().plan.program.predict_only
    np.testing.assert_allclose(got, cpu.predict(x, batch_size=5, verbose=0), rtol=RTOL, atol=ATOL)
