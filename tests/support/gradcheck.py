"""The one gradient-check helper: analytic gradients against central finite differences, in float64.

How a check works: a kernel's backward returns d(sum(u * f(x)))/dx for an upstream gradient u. We draw u at
random (never all ones: a plain .sum() hides transposed or permuted gradients) and differentiate the scalar
L(x) = sum(u * f(x)) numerically, one coordinate at a time, with central differences.

Tolerances, and why: in float64 the central difference with step h has truncation error ~h^2 |f'''| / 6 and
rounding error ~eps_64 |L| / h. With h = 1e-6 and inputs, outputs and third derivatives of order 1-100 (the
strategies keep them there), both stay below ~1e-8, so rtol=1e-5 with atol=1e-6 * (1 + max|grad|) leaves three
orders of margin while a wrong sign, factor or index (errors of order 1) fails by orders of magnitude.
Inputs must be kept at least ~1e-3 away from kinks (relu at 0, hinge at 1, clip bounds, ties in max/argmax), so
that x +- h never crosses one: the strategies in ``strategies.py`` do that.
"""

import numpy as np

H = 1e-6
RTOL = 1e-5
ATOL = 1e-6

# float32 against float64 on the same inputs: a float32 kernel evaluates in float32 (~6e-8 relative rounding per
# operation); with reductions of at most a few hundred terms and O(1) values this stays under ~1e-5 relative.
F32_RTOL = 2e-4
F32_ATOL = 2e-5


def numerical_gradient(scalar_fn, x, h=H):
    """d scalar_fn() / d x by central differences, perturbing x in place (restored afterwards)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + h
        plus = scalar_fn()
        flat[i] = orig - h
        minus = scalar_fn()
        flat[i] = orig
        gflat[i] = (plus - minus) / (2.0 * h)
    return grad


def upstream_like(shape, rng):
    """A random upstream gradient bounded away from zero in magnitude, with both signs."""
    u = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return u.astype(np.float64)


def check_gradient(forward, inputs, analytic, wrt, upstream, h=H, rtol=RTOL, atol=ATOL):
    """Assert that ``analytic`` equals d sum(upstream * forward(*inputs)) / d inputs[wrt].

    ``forward(*inputs)`` returns a new float64 array (wrap the out-parameter kernel in a lambda); ``inputs`` are
    float64 arrays, ``inputs[wrt]`` is perturbed in place and restored.
    """
    x = inputs[wrt]
    assert x.dtype == np.float64, "gradient checks run in float64"

    def scalar():
        return float(np.sum(upstream * forward(*inputs)))

    numeric = numerical_gradient(scalar, x, h)
    analytic = np.asarray(analytic, dtype=np.float64)
    assert analytic.shape == numeric.shape, f"gradient shape {analytic.shape} != {numeric.shape}"
    scale = 1.0 + float(np.max(np.abs(numeric), initial=0.0))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol * scale,
                               err_msg="analytic gradient disagrees with central differences")


def assert_f32_close(result32, result64, rtol=F32_RTOL, atol=F32_ATOL):
    """A float32 kernel's result agrees with the float64 one on the same (float32-representable) inputs."""
    assert np.asarray(result32).dtype == np.float32, "float32 in must give float32 out"
    scale = 1.0 + float(np.max(np.abs(result64), initial=0.0))
    np.testing.assert_allclose(np.asarray(result32, np.float64), result64, rtol=rtol, atol=atol * scale)
