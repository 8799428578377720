"""The CUDA interpreter: a model's step Program run as ``numba.cuda`` kernel launches on device arrays.

It is the eager interpreter (``eager.EagerRun``) with two things swapped: the kernel set (``nbkeras.kernels.cuda``,
the same names and meanings as the CPU set) and where references point (device arrays laid out as the CPU arenas
are). No layer, loss, metric or optimizer knows it exists.

What lives on the device for the whole ``fit``: the parameter arena (trainable weights, then BatchNormalization's
moving statistics and other non-trainable state), the gradient arena, the optimizer slots, the work and fixed
buffers, the dropout uniforms (made on the device, ``kernels/cuda/rng.py``) and the log state while a chunk runs.
A call of ``train``/``test``/``predict`` runs one chunk of batches (``steps_per_execution``, or ~0.15 s of work):

- inputs: the whole training set is copied to the device once per ``fit`` (per prepared data object) when it fits
  in ``NBKERAS_CUDA_DATA_FRACTION`` (default 0.5) of free device memory; otherwise each chunk's rows are gathered
  on the host and copied in one transfer per array. ``predict`` copies each chunk's rows.
- logs: the float64 log state goes to the device at the start of a chunk and comes back at its end, once.
- weights: after a training chunk the parameter arena, the optimizer slots and Nadam's product come back to the
  host in one transfer each, so ``get_weights``, saving and callbacks see current values with no hooks; before a
  chunk they go up only if the host copy changed since (``set_weights``, ``assign``, loading a file), found by
  comparing with the last downloaded copy.

``launches_per_step`` reports the kernel launches of the last training chunk, per step.
"""

import os
import threading
import weakref

import numpy as np

from .eager import PREDICT, TEST, TRAIN, EagerRun
from .engine import _Engine


class _CudaKernels:
    """The CUDA kernel modules as attributes (``kernels.dense.dense_forward``), imported on first use."""

    def __getattr__(self, family):
        import importlib

        module = importlib.import_module(f"nbkeras.kernels.cuda.{family}")
        setattr(self, family, module)
        return module


class CudaEngine(_Engine):
    """Runs a Plan's Program on the GPU (or numba's simulator when CUDA was asked for under NUMBA_ENABLE_CUDASIM)."""

    #: The trainer need not draw dropout uniforms on the host: this engine makes them on the device.
    device_uniforms = True

    def __init__(self, plan):
        super().__init__(plan)
        from numba import cuda

        from ..kernels.cuda import _launch, rng

        self._cuda, self._launch, self._rng = cuda, _launch, rng
        self._kernels = _CudaKernels()
        self._lock = threading.Lock()  # one device arena: device calls from several threads take turns
        self._dev = None
        self._run = None
        self._data_cache = []  # [(weakref to prepared data, device arrays)]: training and validation data
        self._states = None
        self.launches_per_step = None

    # ------------------------------------------------------------------ device arena
    def _device(self):
        cuda = self._cuda
        a, opt = self.plan.arena, self.plan.optimizer
        if self._dev is None:
            d = self._dev = {}
            d["params"] = cuda.to_device(a.params)
            d["grads"] = cuda.to_device(a.grads)
            d["segments"] = cuda.to_device(np.ascontiguousarray(a.segments))
            d["shadow"] = a.params.copy()
            if opt is not None:
                d["slots"] = cuda.to_device(opt._slots)
                d["u_product"] = cuda.to_device(opt._u_product)
                d["shadow_slots"] = opt._slots.copy()
                d["shadow_u"] = opt._u_product.copy()
            else:
                d["slots"] = cuda.to_device(np.zeros((0, 0), a.dtype))
                d["u_product"] = cuda.to_device(np.ones(1, a.dtype))
            d["acc"] = cuda.to_device(np.zeros(1, np.float64))
            d["empty"] = {k: cuda.to_device(np.empty((0,) * k, a.dtype)) for k in (1, 2, 3, 4)}
            d["no_state"] = cuda.to_device(np.zeros(2, np.float64))
            d["buffers"] = {}
            self._run = EagerRun(self.plan.program, a.dtype, kernels=self._kernels, weight=self._weight_view,
                                 grad=self._grad_view, slot=lambda i: d["slots"][i], empty=d["empty"])
        else:
            d = self._dev
            if not np.array_equal(a.params, d["shadow"]):
                d["params"].copy_to_device(a.params)
                np.copyto(d["shadow"], a.params)
            if opt is not None and not (np.array_equal(opt._slots, d["shadow_slots"])
                                        and np.array_equal(opt._u_product, d["shadow_u"])):
                d["slots"].copy_to_device(opt._slots)
                d["u_product"].copy_to_device(opt._u_product)
                np.copyto(d["shadow_slots"], opt._slots)
                np.copyto(d["shadow_u"], opt._u_product)
        return self._dev

    def _weight_view(self, var):
        start, shape = self.plan.arena.location(var)
        return self._dev["params"][start:start + int(np.prod(shape))]

    def _grad_view(self, var):
        start, shape = self.plan.arena.location(var)
        return self._dev["grads"][start:start + int(np.prod(shape))]

    def _download(self):
        d, a, opt = self._dev, self.plan.arena, self.plan.optimizer
        d["params"].copy_to_host(a.params)
        np.copyto(d["shadow"], a.params)
        if opt is not None:
            d["slots"].copy_to_host(opt._slots)
            d["u_product"].copy_to_host(opt._u_product)
            np.copyto(d["shadow_slots"], opt._slots)
            np.copyto(d["shadow_u"], opt._u_product)

    def _buffer(self, name, size, dtype):
        """A device buffer of at least ``size`` elements, grown (never per batch) and reused."""
        bufs = self._dev["buffers"]
        buf = bufs.get(name)
        if buf is None or buf.shape[0] < size or buf.dtype != np.dtype(dtype):
            buf = bufs[name] = self._cuda.device_array(max(size, 1), dtype)
        return buf

    # ------------------------------------------------------------------ data
    def _fits(self, arrays):
        nbytes = sum(x.nbytes for x in arrays)
        try:
            free, _ = self._cuda.current_context().get_memory_info()
        except Exception:  # noqa: BLE001 - the simulator has no memory information
            return True
        return nbytes <= float(os.environ.get("NBKERAS_CUDA_DATA_FRACTION", "0.5")) * free

    def _chunk_rows(self, arrays, order, first, nsteps, batch):
        """The rows ``order[first*batch:(first+nsteps)*batch]`` of each array, gathered on the host and copied to
        the device in one transfer each; arrays with no rows (no sample weights) stay empty."""
        n = order.shape[0]
        rows = order[first * batch:min(n, (first + nsteps) * batch)]
        return tuple(self._cuda.to_device(np.ascontiguousarray(x[rows]) if x.shape[0] else x) for x in arrays)

    def _data(self, data, order, first, nsteps, batch):
        """(xs, ys, sws, order, first) on the device for one chunk."""
        arrays = tuple(data.xs) + tuple(data.ys) + tuple(data.sws)
        nx, ny = len(data.xs), len(data.ys)
        self._data_cache = [(ref, dev) for ref, dev in self._data_cache if ref() is not None]
        dev = next((dev for ref, dev in self._data_cache if ref() is data), None)
        if dev is None and self._fits(arrays):
            dev = tuple(self._cuda.to_device(np.ascontiguousarray(x)) for x in arrays)
            self._data_cache = (self._data_cache + [(weakref.ref(data), dev)])[-2:]
        if dev is None:
            dev = self._chunk_rows(arrays, order, first, nsteps, batch)
            local = self._cuda.to_device(np.arange(dev[0].shape[0], dtype=np.int64))
            return dev[:nx], dev[nx:nx + ny], dev[nx + ny:], local, 0
        return dev[:nx], dev[nx:nx + ny], dev[nx + ny:], self._cuda.to_device(order), first

    # ------------------------------------------------------------------ runs
    def train(self, data, order, first, nsteps, batch, state, lrs, rand):
        with self._lock:
            self._device()
            xs, ys, sws, d_order, d_first = self._data(data, order, first, nsteps, batch)
            d_rand = self._uniforms(rand.shape[0])
            before = self._launch.LAUNCHES[0]
            self._chunk(TRAIN, xs, ys, sws, self._no_outputs_dev(), d_order, d_first, nsteps, batch, state, lrs,
                        d_rand)
            self.launches_per_step = (self._launch.LAUNCHES[0] - before) / max(nsteps, 1)
            self._download()

    def test(self, data, order, first, nsteps, batch, state):
        with self._lock:
            d = self._device()
            xs, ys, sws, d_order, d_first = self._data(data, order, first, nsteps, batch)
            self._chunk(TEST, xs, ys, sws, self._no_outputs_dev(), d_order, d_first, nsteps, batch, state,
                        self._no_lrs, d["empty"][1])

    def predict(self, xs, outs, order, first, nsteps, batch):
        with self._lock:
            d = self._device()
            d_xs = self._chunk_rows(xs, order, first, nsteps, batch)
            rows = d_xs[0].shape[0]
            d_outs = tuple(self._cuda.device_array((rows, o.shape[1]), o.dtype) for o in outs)
            local = self._cuda.to_device(np.arange(rows, dtype=np.int64))
            no_targets = tuple(d["empty"][2] for _ in self.plan.outputs)
            self._chunk(PREDICT, d_xs, no_targets, no_targets, d_outs, local, 0, nsteps, batch, None, self._no_lrs,
                        d["empty"][1])
            start = first * batch
            for o, d_o in zip(outs, d_outs):
                o[start:start + rows] = d_o.copy_to_host()

    def _no_outputs_dev(self):
        return tuple(self._dev["empty"][2] for _ in self.plan.model.outputs)

    def _uniforms(self, count):
        if count == 0:
            return self._dev["empty"][1]
        if self._states is None:
            from .. import backend

            self._states = self._rng.make_states(int(backend.rng().integers(1 << 62)))
        buf = self._buffer("rand", count, self.plan.arena.dtype)[:count]
        self._rng.uniform_fill(self._states, buf)
        return buf

    def _chunk(self, mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand):
        d, a, program = self._dev, self.plan.arena, self.plan.program
        work = self._buffer("work", program.work_width * batch, a.dtype)
        fixed = self._buffer("fixed", max(program.fixed_size, 1), a.dtype)
        d_state = self._cuda.to_device(state) if state is not None else d["no_state"]
        d["acc"].copy_to_device(np.zeros(1, np.float64))
        self._run.run(mode, xs, ys, sws, outs, order, first, nsteps, batch, work, fixed, d_state, lrs, rand,
                      self.plan.optimizer, d["params"][:a.n_trainable], d["grads"], d["segments"], d["acc"],
                      u_product=d["u_product"])
        if state is not None:
            d_state.copy_to_host(state)

    def input_gradients(self, rows):
        raise ValueError("input gradients (a debugging hook of the CPU engines) are not recorded on the CUDA device")
