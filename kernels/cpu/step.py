"""Bookkeeping kernels of a training step: loss reduction, its upstream gradient, the running log sums.

These hold the control flow that depends on a reduction mode or on whether sample weights were given, so that a
step's description stays straight-line and every interpreter (eager, compiled, CUDA) runs the same calls.

Reduction codes (Keras 3's loss reductions that give a scalar):
    0  "sum_over_batch_size" (the default): sum_i w_i l_i / number of values
    1  "sum":                               sum_i w_i l_i
    2  "mean_with_sample_weight":           sum_i w_i l_i / sum_i w_i
``weights`` always holds one weight per value: the step fills it with ones when the user gave none (w * l is then
exactly l, so the numbers equal an unweighted sum).
"""

from ..policy import kernel

SUM_OVER_BATCH_SIZE, SUM, MEAN_WITH_SAMPLE_WEIGHT = 0, 1, 2


@kernel
def _check(values, weights):
    if weights.shape[0] != values.shape[0]:
        raise ValueError("step: weights must have one entry per loss value")


@kernel
def _divisor(weights, reduction):
    if reduction == SUM:
        return 1.0
    if reduction == MEAN_WITH_SAMPLE_WEIGHT:
        s = weights.dtype.type(0.0)
        for i in range(weights.shape[0]):
            s += weights[i]
        return float(s)
    return float(weights.shape[0])


@kernel
def loss_accumulate(values, weights, reduction, loss_weight, samples, acc, tracker):
    """acc[0] += loss_weight * L with L = reduce(values, weights); tracker (+)= [L * samples, samples].

    The weighted sum accumulates in the values' dtype (as Keras's float32 ``ops.sum``); ``tracker`` is the
    [total, count] pair of the per-output loss log, or empty when the model has one output. A zero divisor gives
    0/0 = nan, as Keras does for an all-zero weight vector with "mean_with_sample_weight".
    """
    _check(values, weights)
    acc_v = values.dtype.type(0.0)
    for i in range(values.shape[0]):
        acc_v += weights[i] * values[i]
    value = float(acc_v) / _divisor(weights, reduction)
    acc[0] += loss_weight * value
    if tracker.shape[0] == 2:
        tracker[0] += value * samples
        tracker[1] += samples


@kernel
def loss_upstream(weights, reduction, loss_weight, dvalues):
    """dvalues[i] = d(loss_weight * L) / d values[i] = loss_weight * w_i / divisor."""
    _check(dvalues, weights)
    scale = dvalues.dtype.type(loss_weight / _divisor(weights, reduction))
    for i in range(dvalues.shape[0]):
        dvalues[i] = scale * weights[i]


@kernel
def total_update(acc, state, samples):
    """The 'loss' log: state[0:2] += [acc[0] * samples, samples]; then acc[0] = 0 for the next step."""
    state[0] += acc[0] * samples
    state[1] += samples
    acc[0] = 0.0


@kernel
def gather_or_fill(src, index, start, stop, dst, fill):
    """dst[i - start] = src[index[i]] for i in [start, stop), or ``fill`` everywhere when src has no rows (the
    user gave no sample weights)."""
    if src.shape[0] == 0:
        for r in range(stop - start):
            for j in range(dst.shape[1]):
                dst[r, j] = fill
        return
    if src.shape[1] != dst.shape[1] or stop - start > dst.shape[0] or not 0 <= start <= stop <= index.shape[0]:
        raise ValueError("gather_or_fill: shapes do not match")
    n = src.shape[0]
    for i in range(start, stop):
        r = index[i]
        if r < 0 or r >= n:
            raise ValueError("gather_or_fill: index out of range")
        for j in range(dst.shape[1]):
            dst[i - start, j] = src[r, j]


@kernel
def fill(dst, value):
    """dst[:] = value (a gradient that no path reaches this step must read as zero, not as last step's)."""
    for i in range(dst.shape[0]):
        dst[i] = value


@kernel
def row_mean_forward(x, out):
    """out[r] = mean of x[r, :]: a loss written per element reduced per row, which equals Keras's
    "sum_over_batch_size" over all elements once rows are averaged (every row has the same length)."""
    if x.shape[0] != out.shape[0]:
        raise ValueError("row_mean_forward: out must have one entry per row of x")
    k = x.shape[1]
    for r in range(x.shape[0]):
        acc = x.dtype.type(0.0)
        for j in range(k):
            acc += x[r, j]
        out[r] = acc / k


@kernel
def row_mean_backward(dout, dx):
    """dx[r, j] = dout[r] / k."""
    if dx.shape[0] != dout.shape[0]:
        raise ValueError("row_mean_backward: dx must have one row per entry of dout")
    k = dx.shape[1]
    for r in range(dx.shape[0]):
        g = dout[r] / k
        for j in range(k):
            dx[r, j] = g


@kernel
def state_accumulate(values, state, mean, sign):
    """state[j] += sign * (sum over rows of values[r, j]), divided by the number of rows when ``mean``: a custom
    metric's ``var.assign_add(ops.sum(...))`` (or ops.mean) over the batch, into its span of the log state."""
    if values.shape[1] != state.shape[0]:
        raise ValueError("state_accumulate: values must have one column per state entry")
    rows = values.shape[0]
    for j in range(state.shape[0]):
        acc = 0.0
        for r in range(rows):
            acc += values[r, j]
        if mean:
            acc = acc / rows if rows > 0 else 0.0
        state[j] += sign * acc


@kernel
def masked_weights(weights, mask, rescale, out):
    """Keras's apply_mask for a loss: out = weights * mask, where for the mean reductions (``rescale``) the mask
    is first scaled by total / (valid + 1e-7) so the loss averages over the unmasked steps only."""
    if weights.shape[0] != mask.shape[0] or out.shape[0] != mask.shape[0]:
        raise ValueError("masked_weights: weights, mask and out must have one length")
    scale = 1.0
    if rescale:
        valid = 0.0
        for i in range(mask.shape[0]):
            valid += mask[i]
        scale = mask.shape[0] / (valid + 1e-7)
    for i in range(out.shape[0]):
        out[i] = weights[i] * out.dtype.type(mask[i] * scale)


@kernel
def extra_loss(values, mean, acc):
    """acc[0] += a layer's add_loss() term: the sum of ``values`` over rows and columns, divided by the rows when
    ``mean`` (a batch-wide ops.mean traced per sample: the mean over the batch of per-sample means)."""
    total = 0.0
    for r in range(values.shape[0]):
        for j in range(values.shape[1]):
            total += values[r, j]
    if mean:
        total = total / values.shape[0] if values.shape[0] > 0 else 0.0
    acc[0] += total


@kernel
def extra_loss_grad(dvalues, mean):
    """d(extra_loss) / d values: 1, or 1 / rows for a mean."""
    g = dvalues.dtype.type(1.0 / dvalues.shape[0] if mean and dvalues.shape[0] > 0 else 1.0)
    for r in range(dvalues.shape[0]):
        for j in range(dvalues.shape[1]):
            dvalues[r, j] = g
