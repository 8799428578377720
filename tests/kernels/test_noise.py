"""noise kernels: the identity when not training, Keras's formulas on given uniforms, the noise's statistics over
many values (loose bounds), gradients against central differences at fixed uniforms, float32 agreement, bad
arguments."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import noise
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import dims, floats_array, seeds

ALPHA_P = -1.6732632423543772 * 1.0507009873554805


def box_muller(u, n):
    """The normals the kernels derive from uniforms u (pairs (u1, u2) -> r cos, r sin)."""
    u1, u2 = u[0:n + n % 2:2], u[1:n + n % 2:2]
    r = np.sqrt(-2.0 * np.log(1.0 - u1))
    z = np.empty(2 * u1.size)
    z[0::2], z[1::2] = r * np.cos(2 * math.pi * u2), r * np.sin(2 * math.pi * u2)
    return z[:n]


def run(fn, x, u, param, training):
    out = np.empty_like(x)
    fn(x, u, param, training, out)
    return out


@given(st.tuples(dims(1, 9)).flatmap(lambda s: floats_array(s)), seeds(), st.floats(0.05, 0.9))
def test_formulas_on_given_uniforms(x, seed, p):
    rng = np.random.default_rng(seed)
    n = x.size
    u = rng.random(n + n % 2)
    z = box_muller(u, n)
    np.testing.assert_allclose(run(noise.gaussian_noise_forward, x, u, p, True), x + p * z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(run(noise.gaussian_dropout_forward, x, u, p, True),
                               x * (1 + math.sqrt(p / (1 - p)) * z), rtol=1e-12, atol=1e-12)
    a = ((1 - p) * (1 + p * ALPHA_P ** 2)) ** -0.5
    kept = u[:n] >= p
    np.testing.assert_allclose(run(noise.alpha_dropout_forward, x, u[:n], p, True),
                               a * np.where(kept, x, ALPHA_P) - a * ALPHA_P * p, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [noise.gaussian_noise_forward, noise.gaussian_dropout_forward,
                                noise.alpha_dropout_forward])
def test_identity_when_not_training_reads_no_uniforms(fn, rng):
    x = rng.normal(size=7)
    np.testing.assert_array_equal(run(fn, x, np.empty(0), 0.3, False), x)


def test_backward_is_identity_when_not_training(rng):
    dy = rng.normal(size=5)
    for fn in (noise.gaussian_dropout_backward, noise.alpha_dropout_backward):
        dx = np.empty(5)
        fn(np.empty(0), 0.3, False, dy, dx)
        np.testing.assert_array_equal(dx, dy)
    dx = np.empty(5)
    noise.gaussian_noise_backward(dy, dx)
    np.testing.assert_array_equal(dx, dy)


def test_statistics_over_many_values():
    rng = np.random.default_rng(7)
    n = 200_001  # odd: the last value takes the padding uniform
    u = rng.random(n + 1)
    z = run(noise.gaussian_noise_forward, np.zeros(n), u, 1.0, True)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs(np.corrcoef(z[0:-1:2], z[1::2])[0, 1]) < 0.01  # the cos and sin halves are uncorrelated
    assert abs(np.mean(z ** 4) - 3.0) < 0.1  # normal kurtosis, not a uniform's 1.8
    g = run(noise.gaussian_dropout_forward, np.ones(n), u, 0.2, True)
    assert abs(g.mean() - 1.0) < 0.01 and abs(g.var() - 0.25) < 0.01
    x = rng.normal(size=n)  # alpha dropout keeps a standard normal input's mean 0 and variance 1
    a = run(noise.alpha_dropout_forward, x, u, 0.1, True)
    assert abs(a.mean()) < 0.02 and abs(a.var() - 1.0) < 0.03
    assert abs(np.mean(u[:n] < 0.1) - 0.1) < 0.01


@given(st.tuples(dims(1, 7)).flatmap(lambda s: floats_array(s)), seeds(), st.floats(0.05, 0.9))
def test_gradients_at_fixed_uniforms(x, seed, p):
    rng = np.random.default_rng(seed)
    u = rng.random(x.size + 1)
    u[np.abs(u - p) < 1e-3] += 2e-3  # no uniform on the keep threshold
    dy = upstream_like(x.shape, rng)
    dx = np.empty_like(x)
    noise.gaussian_noise_backward(dy, dx)
    check_gradient(lambda x: run(noise.gaussian_noise_forward, x, u, p, True), [x], dx, 0, dy)
    noise.gaussian_dropout_backward(u, p, True, dy, dx)
    check_gradient(lambda x: run(noise.gaussian_dropout_forward, x, u, p, True), [x], dx, 0, dy)
    noise.alpha_dropout_backward(u, p, True, dy, dx)
    check_gradient(lambda x: run(noise.alpha_dropout_forward, x, u, p, True), [x], dx, 0, dy)


@given(st.tuples(dims(1, 7)).flatmap(lambda s: floats_array(s)), seeds())
def test_float32_agrees_with_float64(x, seed):
    u = np.random.default_rng(seed).random(x.size + 1).astype(np.float32).astype(np.float64)
    for fn in (noise.gaussian_noise_forward, noise.gaussian_dropout_forward, noise.alpha_dropout_forward):
        got = run(fn, x.astype(np.float32), u.astype(np.float32), 0.3, True)
        assert_f32_close(got, run(fn, x, u, 0.3, True), rtol=1e-3, atol=1e-4)


def test_bad_arguments():
    x = np.ones(5)
    with pytest.raises(ValueError, match="rounded up to even"):
        run(noise.gaussian_noise_forward, x, np.ones(5), 0.1, True)  # 5 values need 6 uniforms
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        run(noise.gaussian_dropout_forward, x, np.ones(6), 1.0, True)
    with pytest.raises(ValueError, match="u at least that"):
        run(noise.alpha_dropout_forward, x, np.ones(4), 0.1, True)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        noise.alpha_dropout_backward(np.ones(5), 1.0, True, x, np.empty(5))
    with pytest.raises(ValueError, match="dx must have dy's length"):
        noise.gaussian_noise_backward(x, np.empty(4))
    noise.gaussian_dropout_backward(np.ones(6), 0.1, True, x, np.empty(0))  # size 0: skipped
