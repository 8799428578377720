"""Argument checks and shape arithmetic shared by the convolution layers.

Every convolution runs on 2-D kernels over (batch, H, W, C) views; a 1-D layer is the 2-D one with H = 1, a 1-tap
kernel row, stride 1 and no padding along H. ``Geometry`` holds one layer's sizes on both axes and is all the
description code needs.

Output lengths follow Keras 3 (``compute_conv_output_shape`` and the JAX backend's padding rules):

    extent  = (k - 1) * dilation + 1                 the span of the dilated kernel
    valid:  out = floor((n - extent) / stride) + 1,  front pad 0
    same:   out = ceil(n / stride),                  total pad = max((out - 1) * stride + extent - n, 0),
                                                     front pad = total // 2 (the extra row goes at the end)
    causal: out = ceil(n / stride),                  front pad = extent - 1 (Conv1D only)

A transposed convolution is the input gradient of a convolution; its output (length, front crop) is Keras 3's:

    valid: out = (n - 1) * stride + extent + op,  op = output_padding or max(extent, stride) - extent;  crop 0
    same:  pad = stride + extent - 2 (op None) or extent + extent % 2 - 2 + op,
           front = min(ceil(pad / 2), extent - 1), out = (n - 1) * stride + pad - extent + 2, crop = extent - 1 - front
"""

import numpy as np


def normalize_tuple(value, n, name, owner, allow_zero=False):
    """``value`` (an int or n ints) as a tuple of n ints; ValueError naming ``owner`` and ``name`` otherwise."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(f"{owner}: `{name}` must be an integer or a tuple of {n} integers, got {value!r}")
        if len(values) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                       for v in values):
            raise ValueError(f"{owner}: `{name}` must be an integer or a tuple of {n} integers, got {value!r}")
        values = tuple(int(v) for v in values)
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{owner}: `{name}` must be {need}, got {value!r}")
    return values


def positive_int(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}")
    return int(value)


def normalize_padding(value, owner, allow_causal=False):
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(f"{owner}: `padding` must be one of {allowed} (case-insensitive), got {value!r}")
    return padding


def check_data_format(value, owner):
    """Keras's ``data_format`` (None means the backend's 'channels_last'); nbkeras runs channels_last only."""
    if value is None:
        return "channels_last"
    data_format = str(value).lower()
    if data_format == "channels_first":
        raise ValueError(f"{owner}: `data_format='channels_first'` is not supported: nbkeras supports "
                         f"channels_last only (inputs shaped (batch, ..., channels))")
    if data_format != "channels_last":
        raise ValueError(f"{owner}: `data_format` must be 'channels_last' or 'channels_first', got {value!r}")
    return data_format


def check_strides_and_dilation(strides, dilation_rate, owner):
    """Keras's Conv and ConvTranspose layers refuse the two together (the TensorFlow rule they kept)."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{owner}: `strides` > 1 is not supported together with `dilation_rate` > 1, got "
                         f"strides={strides} and dilation_rate={dilation_rate}")


def extent(k, dilation):
    return (k - 1) * dilation + 1


def conv_length(n, k, stride, dilation, padding):
    """(output length, front pad) along one axis; output length <= 0 means the kernel does not fit."""
    span = extent(k, dilation)
    if padding == "valid":
        return (n - span) // stride + 1 if n >= span else 0, 0
    out = (n - 1) // stride + 1
    if padding == "causal":
        return out, span - 1
    return out, max((out - 1) * stride + span - n, 0) // 2


def transpose_length(n, k, stride, dilation, padding, output_padding):
    """(output length, front crop) of a transposed convolution along one axis (see the module docstring)."""
    span = extent(k, dilation)
    if padding == "valid":
        op = max(span, stride) - span if output_padding is None else output_padding
        return (n - 1) * stride + span + op, 0
    pad = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    front = min((pad + 1) // 2, span - 1)
    return (n - 1) * stride + pad - span + 2, span - 1 - front


class Geometry:
    """One layer's sizes as the 2-D kernels take them: (H, W) pairs for the input, output, kernel taps, strides,
    dilations and front pads (pad_top, pad_left; for a transposed convolution the front crop)."""

    def __init__(self, in_hw, out_hw, k_hw, strides, dilations, pads):
        self.in_hw, self.out_hw, self.k_hw = tuple(in_hw), tuple(out_hw), tuple(k_hw)
        self.strides, self.dilations, self.pads = tuple(strides), tuple(dilations), tuple(pads)

    def args(self):
        """stride_h, stride_w, pad_top, pad_left, dil_h, dil_w: the kernels' geometry arguments, in order."""
        return self.strides + self.pads + self.dilations


def as_2d(values, fill):
    """A 1-D layer's per-axis values with the H axis prepended (``fill`` for it); 2-D values unchanged."""
    return (fill,) + tuple(values) if len(values) == 1 else tuple(values)


def conv_geometry(spatial, kernel_size, strides, dilation_rate, padding, owner):
    """The Geometry of a (depthwise) convolution over ``spatial`` (the input's spatial sizes, rank 1 or 2); a
    ValueError naming ``owner`` when the dilated kernel does not fit a 'valid' input."""
    outs, pads = [], []
    for n, k, s, d in zip(spatial, kernel_size, strides, dilation_rate):
        out, front = conv_length(n, k, s, d, padding)
        if out <= 0:
            raise ValueError(f"{owner}: the kernel is larger than the input with padding '{padding}': "
                             f"`kernel_size`={tuple(kernel_size)} with `dilation_rate`={tuple(dilation_rate)} spans "
                             f"{tuple(extent(k, d) for k, d in zip(kernel_size, dilation_rate))} but the input's "
                             f"spatial shape is {tuple(spatial)}")
        outs.append(out)
        pads.append(front)
    return Geometry(as_2d(spatial, 1), as_2d(outs, 1), as_2d(kernel_size, 1), as_2d(strides, 1),
                    as_2d(dilation_rate, 1), as_2d(pads, 0))


def transpose_geometry(spatial, kernel_size, strides, dilation_rate, padding, output_padding, owner):
    outs, crops = [], []
    ops = output_padding if output_padding is not None else (None,) * len(spatial)
    for n, k, s, d, op in zip(spatial, kernel_size, strides, dilation_rate, ops):
        out, crop = transpose_length(n, k, s, d, padding, op)
        if out <= 0:
            raise ValueError(f"{owner}: the output would be empty: input spatial shape {tuple(spatial)} with "
                             f"`kernel_size`={tuple(kernel_size)}, `strides`={tuple(strides)}, padding "
                             f"'{padding}' and `output_padding`={output_padding}")
        outs.append(out)
        crops.append(crop)
    return Geometry(as_2d(spatial, 1), as_2d(outs, 1), as_2d(kernel_size, 1), as_2d(strides, 1),
                    as_2d(dilation_rate, 1), as_2d(crops, 0))


def check_spatial_input(input_shape, rank, owner):
    """A (batch, *spatial, channels) shape of rank ``rank + 2`` with every non-batch size known."""
    if isinstance(input_shape, list) or len(input_shape) != rank + 2:
        layout = "(batch, steps, channels)" if rank == 1 else "(batch, height, width, channels)"
        raise ValueError(f"{owner}: expected an input of rank {rank + 2} {layout}, got shape {input_shape}")
    if any(d is None for d in input_shape[1:]):
        raise ValueError(f"{owner}: every non-batch dimension of the input must be known (nbkeras sizes its "
                         f"buffers per sample), got shape {input_shape}")
    if any(d <= 0 for d in input_shape[1:]):
        raise ValueError(f"{owner}: input dimensions must be positive, got shape {input_shape}")
