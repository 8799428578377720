"""The eager interpreter: runs a Program's calls from Python, one kernel call at a time.

It resolves every reference to a NumPy view laid out exactly as the compiled step lays it out (same arenas, same
offsets, same kernels, same order), so ``run_eagerly=True`` gives the compiled path's numbers bit for bit while
staying debuggable: a breakpoint or a print between two calls sees every buffer.
"""

import math

import numpy as np

from .. import backend
from .program import (
    Arg,
    Const,
    Data,
    Grad,
    InputRows,
    PredRows,
    Slot,
    StateSlot,
    View,
    Weight,
)

TRAIN, TEST, PREDICT = 0, 1, 2


def _shaped(flat, dims):
    if not dims:
        return flat
    rows = flat.shape[0] // math.prod(dims)  # 0 rows for uniforms outside training (none are drawn)
    return flat[:rows * math.prod(dims)].reshape((rows,) + tuple(dims))


class EagerRun:
    """Arguments of one chunk of steps, as the compiled ``steps`` function takes them."""

    def __init__(self, program, dtype, kernels=None, weight=None, grad=None, slot=None, empty=None):
        """``kernels`` (default: the CPU set) names the kernel modules as attributes; ``weight``/``grad``/``slot``
        map a variable or slot index to the array the calls use (default: the variable's own arrays) -- the CUDA
        interpreter passes device arrays through these and changes nothing else."""
        self.program = program
        self.dtype = np.dtype(dtype)
        k = backend.kernels() if kernels is None else kernels
        self._weight = weight or (lambda var: var.value.reshape(-1))
        self._grad = grad or (lambda var: var.grad.reshape(-1))
        self._slot = slot
        self._fns = {}
        self._input_rows = k.data.input_rows
        for call in program.calls():
            if call.fn not in self._fns:
                family, name = call.fn.split(".")
                self._fns[call.fn] = getattr(getattr(k, family), name)
        self._calls = {name: [(c, [_per_step(a) for a in c.args]) for c in calls]
                       for name, calls in program.sections.items()}
        self._empty = empty or {1: np.empty(0, self.dtype), 2: np.empty((0, 0), self.dtype),
                                3: np.empty((0, 0, 0), self.dtype), 4: np.empty((0, 0, 0, 0), self.dtype)}

    def run(self, mode, xs, ys, ws, preds, order, first, nsteps, batch, work, fixed, state, lrs, rand, optimizer,
            params_trainable, grads, segments, acc, training=None, u_product=None):
        program = self.program
        if program.predict_only and mode != PREDICT:
            raise RuntimeError("internal: this program writes predict's outputs in its forward section; it runs "
                               "predict only")
        training = (mode == TRAIN) if training is None else bool(training)
        n = xs[0].shape[0]
        sections = (("forward", "outputs") if mode == PREDICT else
                    ("forward", "metrics", "backward", "update") if mode == TRAIN else ("forward", "metrics"))
        env = {"order": order, "training": training, "acc": acc, "ptrain": params_trainable, "grads": grads,
               "segments": segments,
               "u_product": u_product if u_product is not None else (
                   optimizer._u_product if optimizer is not None else None),
               "empty1": self._empty[1], "empty2": self._empty[2], "empty3": self._empty[3],
               "empty4": self._empty[4]}
        data = {"X": xs, "Y": ys, "W": ws}
        step = {}  # this step's rows, first row and uniforms' start

        def resolve(a):
            if isinstance(a, View):
                buf = a.buf
                rows = step["B"]
                if buf.arena == "work":
                    flat = work[buf.offset * batch: buf.offset * batch + rows * buf.width]
                elif buf.arena == "rand":
                    start = step["rbase"] + rows * buf.offset
                    flat = rand[start:start + rows * buf.width]
                else:
                    flat = fixed[buf.offset:buf.offset + buf.width]
                return _shaped(flat, a.dims)
            if isinstance(a, Const):
                return a.value
            if isinstance(a, Arg):
                return step[a.name] if a.name in _PER_STEP else env[a.name]
            if isinstance(a, Weight):
                return _shaped(self._weight(a.var), a.dims)
            if isinstance(a, Grad):
                return _shaped(self._grad(a.var), a.dims)
            if isinstance(a, Data):
                return data[a.kind][a.index]
            if isinstance(a, PredRows):
                return preds[a.index][step["b0"]:step["b1"]].reshape(-1)
            if isinstance(a, InputRows):
                return self._input_rows(xs[a.index], order, step["b0"], step["b1"], resolve(a.view))
            if isinstance(a, StateSlot):
                return state[0:0] if a.offset is None else state[a.offset:a.offset + a.size]
            if isinstance(a, Slot):
                return optimizer._slots[a.index] if self._slot is None else self._slot(a.index)
            raise TypeError(f"internal: cannot resolve {a!r}")

        # Every argument but the per-step ones (the rows' bounds, the learning rate, the step count, the uniforms'
        # views) is the same array for every step with the same number of rows: resolved once per row count.
        resolved = {}
        rbase = 0
        for s in range(nsteps):
            b0 = (first + s) * batch
            b1 = min(b0 + batch, n)
            rows = b1 - b0
            step.update(b0=b0, b1=b1, B=rows, rbase=rbase)
            if mode == TRAIN:
                step["lr"] = float(lrs[s])
                step["t"] = int(optimizer._iterations[0]) + 1
            calls = resolved.get(rows)
            if calls is None:
                calls = resolved[rows] = [
                    [(self._fns[c.fn], [None if d else resolve(a) for a, d in zip(c.args, dyn)],
                      [(i, c.args[i]) for i, d in enumerate(dyn) if d])
                     for c, dyn in self._calls[section]]
                    for section in sections]
            for section, section_calls in zip(sections, calls):
                for fn, args, dynamic in section_calls:
                    if dynamic:
                        args = list(args)
                        for i, a in dynamic:
                            args[i] = resolve(a)
                    fn(*args)
                if section == "update":
                    optimizer._iterations[0] = step["t"]
            rbase += rows * program.rand_width


#: Arguments whose value changes from one step to the next.
_PER_STEP = frozenset(("b0", "b1", "B", "lr", "t"))


def _per_step(a):
    return ((isinstance(a, View) and a.buf.arena == "rand") or isinstance(a, (PredRows, InputRows))
            or (isinstance(a, Arg) and a.name in _PER_STEP))


def run_forward(graph, arrays, training, dtype):
    """Outputs of ``graph`` (inputs, nodes, outputs) on ``arrays`` (one per input, batch first), computed by the
    eager interpreter: how a layer or a model called on arrays runs when it has no compiled step."""
    from .program import build

    program = build(graph)
    dtype = np.dtype(dtype)
    n = arrays[0].shape[0]
    xs = tuple(np.ascontiguousarray(a, dtype=dtype).reshape(n, -1) for a in arrays)
    preds = tuple(np.empty((n, int(math.prod(t.shape[1:]))), dtype) for t in graph.outputs)
    work = np.empty(max(program.work_width * n, 1), dtype)
    fixed = np.empty(max(program.fixed_size, 1), dtype)
    rand = backend.rng().random(n * program.rand_width, dtype=dtype) if training else np.empty(0, dtype)
    run = EagerRun(program, dtype)
    state = np.zeros(2, np.float64)
    run.run(PREDICT, xs, (), (), preds, np.arange(n, dtype=np.int64), 0, 1, max(n, 1), work, fixed, state, None,
            rand, None, np.empty(0, dtype), np.empty(0, dtype), np.zeros((0, 2), np.int64), np.zeros(1, np.float64),
            training=training)
    return [p.reshape((n,) + tuple(t.shape[1:])) for p, t in zip(preds, graph.outputs)]
