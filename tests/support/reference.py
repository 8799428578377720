"""A plain-NumPy reference for API tests: Dense networks, a few losses, SGD and Adam, written out by hand.

Nothing here calls nbkeras kernels, so a test that trains a model and compares with this reference checks the
whole pipeline (data, graph, losses, reduction, gradients, optimizer) against an independent transcription of
Keras's formulas. Everything runs in float64.
"""

import numpy as np

EPS = 1e-7


def act(name, z):
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(name)


def act_grad(name, z, a, da):
    if name in (None, "linear"):
        return da
    if name == "relu":
        return da * (z > 0)
    if name == "tanh":
        return da * (1.0 - a * a)
    if name == "sigmoid":
        return da * a * (1.0 - a)
    if name == "softmax":
        return a * (da - (da * a).sum(axis=-1, keepdims=True))
    raise ValueError(name)


def mlp_forward(weights, activations, x):
    """weights: [W1, b1, W2, b2, ...]; returns (pre-activations, activations) per layer, a[0] = x."""
    zs, acts = [], [x]
    for i, name in enumerate(activations):
        z = acts[-1] @ weights[2 * i] + weights[2 * i + 1]
        zs.append(z)
        acts.append(act(name, z))
    return zs, acts


def loss_values(name, y, p):
    """Per-sample values (mean or sum over the last axis, as Keras)."""
    if name == "mse":
        return ((p - y) ** 2).mean(axis=-1)
    if name == "mae":
        return np.abs(p - y).mean(axis=-1)
    if name == "binary_crossentropy":
        q = np.clip(p, EPS, 1 - EPS)
        return -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=-1)
    if name == "categorical_crossentropy":
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        return -(y * np.log(q)).sum(axis=-1)
    if name == "sparse_categorical_crossentropy":
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        return -np.log(q[np.arange(len(y)), y.astype(int).reshape(-1)])
    raise ValueError(name)


def loss_grad(name, y, p, dvals):
    """d sum(dvals * values) / dp, assuming no clipping is active."""
    d = p.shape[-1]
    dv = dvals[:, None]
    if name == "mse":
        return dv * 2.0 * (p - y) / d
    if name == "mae":
        return dv * np.sign(p - y) / d
    if name == "binary_crossentropy":
        return dv * (-(y / p) + (1 - y) / (1 - p)) / d
    if name == "categorical_crossentropy":
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        g = -y / q
        return dv * (g - (g * q).sum(axis=-1, keepdims=True)) / s
    if name == "sparse_categorical_crossentropy":
        onehot = np.zeros_like(p)
        onehot[np.arange(len(y)), y.astype(int).reshape(-1)] = 1.0
        return loss_grad("categorical_crossentropy", onehot, p, dvals)
    raise ValueError(name)


def mlp_loss_and_grads(weights, activations, x, y, loss, sample_weight=None):
    """Keras's batch loss sum(w * values) / n and its gradient with respect to every weight."""
    zs, acts = mlp_forward(weights, activations, x)
    p = acts[-1]
    vals = loss_values(loss, y, p)
    w = np.ones(len(vals)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    value = float((w * vals).sum() / len(vals))
    da = loss_grad(loss, y, p, w / len(vals))
    grads = [None] * len(weights)
    for i in reversed(range(len(activations))):
        dz = act_grad(activations[i], zs[i], acts[i + 1], da)
        grads[2 * i] = acts[i].T @ dz
        grads[2 * i + 1] = dz.sum(axis=0)
        da = dz @ weights[2 * i].T
    return value, grads


def sgd(weights, grads, lr, momentum=0.0, velocity=None, nesterov=False):
    if momentum == 0.0:
        return [w - lr * g for w, g in zip(weights, grads)], velocity
    velocity = velocity or [np.zeros_like(w) for w in weights]
    new_v = [momentum * v - lr * g for v, g in zip(velocity, grads)]
    if nesterov:
        return [w + momentum * v - lr * g for w, v, g in zip(weights, new_v, grads)], new_v
    return [w + v for w, v in zip(weights, new_v)], new_v


def adam(weights, grads, state, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """One Keras 3 Adam step; ``state`` = (t, m, v) with t the number of steps done."""
    t, m, v = state
    t += 1
    m = [mi + (g - mi) * (1 - b1) for mi, g in zip(m, grads)]
    v = [vi + (g * g - vi) * (1 - b2) for vi, g in zip(v, grads)]
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    new = [w - alpha * mi / (np.sqrt(vi) + eps) for w, mi, vi in zip(weights, m, v)]
    return new, (t, m, v)


def adam_state(weights):
    return (0, [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights])
