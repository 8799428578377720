"""Where a compiled model's numbers live and how a chunk of batches runs: the parameter arena, the plan (with the
step Program its layers describe), and two engines with one interface that interpret that Program --
``CompiledEngine`` (one generated numba function, the default) and ``EagerEngine`` (kernel by kernel from Python,
for run_eagerly=True). Both read and write the same arena, optimizer slots and log state through the same kernels
in the same order, so they give the same numbers.
"""

import contextlib
import math
import os
import threading
import time
import weakref

import numpy as np

from ..kernels import policy
from . import codegen, loader
from . import program as program_module
from .eager import PREDICT, TEST, TRAIN, EagerRun


class Arena:
    """Every weight of a model in one contiguous buffer, trainable ones first; gradients for those alone.

    Each Variable becomes a view into ``params``; ``get_weights``/``set_weights`` read and write through the views,
    optimizers update ``params[:n_trainable]`` in one pass, and ``segments`` lists each trainable variable's span.
    """

    def __init__(self, model, dtype):
        self.dtype = np.dtype(dtype)
        trainable = model.trainable_weights
        ids = {id(v) for v in trainable}
        others = _arena_others(model, ids)
        self.trainable_ids = frozenset(ids)
        self.variables = trainable + others
        self.n_trainable = sum(int(np.prod(v.shape)) for v in trainable)
        total = sum(int(np.prod(v.shape)) for v in self.variables)
        self.params = np.zeros(total, self.dtype)
        self.grads = np.zeros(self.n_trainable, self.dtype)
        self._where = {}
        spans = []
        start = 0
        for v in self.variables:
            size = int(np.prod(v.shape))
            self._where[id(v)] = (start, tuple(v.shape))
            if id(v) in ids:
                spans.append((start, start + size))
            start += size
        self.segments = np.array(spans, dtype=np.int64).reshape(-1, 2)
        self.bind()

    def bind(self):
        for v in self.variables:
            start, shape = self._where[id(v)]
            size = int(np.prod(shape))
            v.bind(self.params[start:start + size].reshape(shape), self)
            v.grad = self.grads[start:start + size].reshape(shape) if id(v) in self.trainable_ids else None

    def ensure_bound(self):
        """Re-adopt variables another model moved into its own buffer since (a layer shared between models)."""
        if any(v._arena is not self for v in self.variables):
            self.bind()

    def location(self, var):
        return self._where[id(var)]

    def holds(self, var):
        return id(var) in self._where

    def is_trainable(self, var):
        return id(var) in self.trainable_ids

    def matches(self, model):
        trainable = model.trainable_weights
        return [id(v) for v in self.variables] == [id(v) for v in trainable] + [
            id(v) for v in _arena_others(model, {id(t) for t in trainable})] and all(
            v.dtype == self.dtype for v in self.variables)


def _arena_others(model, trainable_ids):
    """The non-trainable variables the step reads: the model's, then the constant arrays of keras.ops calls
    recorded in its graph (not weights of the model, as in Keras, but the compiled step needs them in memory)."""
    out = [v for v in model.weights if id(v) not in trainable_ids]
    seen = trainable_ids | {id(v) for v in out}

    def visit(nodes):
        for node in nodes:
            for v in getattr(node.layer, "constant_variables", ()) if node.layer._is_op else ():
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
            if getattr(node, "subgraph", None) is not None:
                visit(node.subgraph.nodes)

    visit(getattr(model, "_nodes", ()))
    return out


class Plan:
    """A compiled model's execution plan: graph, arena, optimizer, outputs (losses, metrics), log layout, and the
    step Program described by its layers (built on first use, once the targets' kinds are known)."""

    def __init__(self, model, arena, optimizer, outs, layout):
        self.model = model
        self.arena = arena
        self.optimizer = optimizer
        self.outputs = outs
        self.layout = layout
        self.input_widths = [int(np.prod(t.shape[1:])) for t in model.inputs]
        self._program = None
        self._lock = threading.Lock()
        #: A debugging hook for the gradient checks: also compute d loss / d inputs (see input_gradients()).
        self.input_grads = bool(getattr(model, "_record_input_grads", False))

    @property
    def program(self):
        if self._program is None:
            with self._lock:
                if self._program is None:
                    graph = program_module.ExecutionGraph(self.model.inputs, self.model._nodes,
                                                          self.model.outputs)
                    self._program = program_module.build(graph, self.outputs, self.optimizer,
                                                         self.arena.is_trainable, self.input_grads)
        return self._program

    @property
    def rand_width(self):
        """Uniforms per sample a training step draws (the layers that declare randomness)."""
        return self.program.rand_width

    @staticmethod
    def width(tensor):
        return math.prod(int(d) for d in tensor.shape[1:])


def random_count(n_rows, first, nsteps, batch, width):
    """How many uniform draws ``nsteps`` training batches starting at batch ``first`` consume."""
    if width == 0:
        return 0
    rows = min(n_rows, (first + nsteps) * batch) - first * batch
    return max(rows, 0) * width


class _Buffers(threading.local):
    """Per-thread work buffers: concurrent predict/evaluate calls on one model never share scratch memory."""

    work = None
    fixed = None
    acc = None
    batch = None  # of the last call


class _Engine:
    """What both engines share: per-thread buffers and the arguments of one chunk of steps."""

    def __init__(self, plan):
        self.plan = plan
        dtype = plan.arena.dtype
        self._buffers = _Buffers()
        self._empty = np.empty(0, dtype)
        self._no_targets = tuple(np.zeros((0, 0), dtype) for _ in plan.outputs)
        self._no_outputs = tuple(np.zeros((0, 0), dtype) for _ in plan.model.outputs)
        self._no_state = np.zeros(2, np.float64)
        self._no_lrs = np.zeros(1, np.float64)
        # The optimizer arguments of a model without an optimizer (forward only: the step never writes them).
        self._no_optimizer = (np.zeros((0, 0), dtype), np.ones(1, dtype), np.zeros(1, np.int64))
        self._eager = None  # the EagerRun, made on first use

    def _scratch(self, batch):
        """This thread's work and fixed arenas, grown (never per batch: once per larger batch size)."""
        program = self.plan.program
        dtype = self.plan.arena.dtype
        b = self._buffers
        size = max(program.work_width * batch, 1)
        if b.work is None or b.work.shape[0] < size or b.work.dtype != dtype:
            b.work = np.empty(size, dtype)
        if b.fixed is None or b.fixed.shape[0] < max(program.fixed_size, 1) or b.fixed.dtype != dtype:
            b.fixed = np.empty(max(program.fixed_size, 1), dtype)
        if b.acc is None:
            b.acc = np.zeros(1, np.float64)
        b.batch = batch
        return b.work, b.fixed, b.acc

    def input_gradients(self, rows):
        """d loss / d inputs of the last training step this thread ran (``rows`` samples), for a plan built with
        ``input_grads``; None for an input no gradient reached."""
        program, b = self.plan.program, self._buffers
        out = []
        for buf, t in zip(program.input_grad_buffers, self.plan.model.inputs):
            if buf is None:
                out.append(None)
                continue
            start = buf.offset * b.batch
            out.append(b.work[start:start + rows * buf.width].reshape((rows,) + tuple(t.shape[1:])).copy())
        return out

    def _run_eagerly(self, mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand, work, fixed, acc):
        """The eager interpreter over this engine's program and arenas."""
        if self._eager is None:
            self._eager = EagerRun(self.plan.program, self.plan.arena.dtype)
        a = self.plan.arena
        self._eager.run(mode, xs, ys, sws, outs, order, first, nsteps, batch, work, fixed, state, lrs, rand,
                        self.plan.optimizer, a.params[:a.n_trainable], a.grads, a.segments, acc)

    def train(self, data, order, first, nsteps, batch, state, lrs, rand):
        self._call(TRAIN, data.xs, data.ys, data.sws, self._no_outputs, order, first, nsteps, batch, state, lrs,
                   rand)

    def test(self, data, order, first, nsteps, batch, state):
        self._call(TEST, data.xs, data.ys, data.sws, self._no_outputs, order, first, nsteps, batch, state,
                   self._no_lrs, self._empty)

    def predict(self, xs, outs, order, first, nsteps, batch):
        dtype = self.plan.arena.dtype
        if self.plan.program.predict_only and any(x.dtype != dtype for x in xs):
            # its calls may read the inputs in place (predict_io.py): they must hold the arena's dtype
            xs = tuple(np.ascontiguousarray(x, dtype=dtype) for x in xs)
        self._call(PREDICT, xs, self._no_targets, self._no_targets, outs, order, first, nsteps, batch,
                   self._no_state, self._no_lrs, self._empty)


class CompiledEngine(_Engine):
    """Runs the model's generated ``steps`` function (one compiled function for train, test and predict).

    A model structure whose step is not in the compile cache yet does not wait for it: its calls run on the eager
    interpreter (same arenas, kernels and order, so the same numbers) and, once they have taken ``COMPILE_AFTER``
    seconds, the step compiles on a background thread; the first call after that compilation ends switches to it
    (and the next process finds it in the cache). A step found in the cache is loaded before the first call.
    ``NBKERAS_BACKGROUND_COMPILE=0`` compiles before the first call instead (the eager calls of a new structure
    load its kernels first, then the compilation reuses them; the measured cost: bench/first_batch.py).
    """

    def __init__(self, plan):
        super().__init__(plan)
        self._fn = None  # (dispatcher, meta, hyper) once the step for this call signature is compiled
        self._fn_lock = threading.Lock()
        self._module = None  # (dispatcher, meta, hyper) once the source is generated and loaded
        self._started = False
        self._failed = None
        self._done = threading.Event()
        self._pending = None  # the signature to compile once eager calls have taken COMPILE_AFTER seconds
        self._eager_calls = 0
        self._eager_seconds = 0.0

    def _load_module(self):
        if self._module is None:
            a = self.plan.arena
            source, meta, hyper = codegen.generate(self.plan.program, a, a.n_trainable)
            # The engine owns the module: once no engine uses it, the loader may free its code.
            module = loader.load(source, owner=self)
            self._module = (module.steps, np.array(meta or [0], dtype=np.int64),
                            np.array(hyper or [0.0], dtype=np.float64))
        return self._module

    def _function(self):
        """The compiled step, waiting for a background compilation in progress (or loading it now)."""
        while self._fn is None:
            with self._fn_lock:
                if not self._started:
                    self._fn = self._load_module()  # compiled (or loaded from the cache) by its first call
                    self._started = True
                    self._done.set()
                    break
                pending, self._pending = self._pending, None
            if pending is not None:  # ran eagerly, not submitted yet: compile it here
                self._build(pending)
            self._done.wait()
            self._raise_failure()
        return self._fn

    def _raise_failure(self):
        if self._failed is not None:
            raise RuntimeError(f"nbkeras: compiling the train step failed ({type(self._failed).__name__}: "
                               f"{self._failed}); compile(run_eagerly=True) runs the model without it") \
                from self._failed

    def _ready(self, args):
        """The compiled step if it can be called now, else None (start compiling it in the background)."""
        fn = self._fn
        if fn is not None or self._started:
            if fn is None:
                self._raise_failure()
            return fn
        with self._fn_lock:
            if self._started:
                return self._fn
            self._started = True
            steps, meta, hyper = module = self._load_module()
            full = args[:16] + (meta, hyper) + args[16:]
            if not hasattr(steps, "compile") or not BACKGROUND or _is_cached(steps, full):
                self._fn = module
                self._done.set()
                return module
            # Submitted after this call has run eagerly: the compilation holds numba's compiler lock, and the
            # eager calls must first load their kernels (which takes that lock) or they would wait for it.
            self._pending = _signature(full)
            return None

    def _build(self, sig):
        """On the builder thread: compile ``sig`` and publish the step."""
        try:
            self._module[0].compile(sig)
            self._fn = self._module
        except BaseException as exc:  # noqa: BLE001 -- reported to the caller's thread
            self._failed = exc
        finally:
            self._done.set()

    def _call(self, mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand):
        work, fixed, acc = self._scratch(batch)
        a = self.plan.arena
        opt = self.plan.optimizer
        if opt is not None:
            slots, u_product, iters = opt._slots, opt._u_product, opt._iterations
        else:
            slots, u_product, iters = self._no_optimizer
        args = (mode, xs, ys, sws, outs, order, first, nsteps, batch, a.params, a.grads, slots, u_product, iters,
                work, fixed, state, lrs, rand, a.segments, acc)
        fn = self._fn or self._ready(args)
        if fn is None:
            t0 = time.perf_counter()
            try:
                self._run_eagerly(mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand, work, fixed,
                                  acc)
            finally:
                if self._eager_calls:  # the first call loads the kernels: not counted
                    self._eager_seconds += time.perf_counter() - t0
                self._eager_calls += 1
                if self._pending is not None and self._eager_seconds >= COMPILE_AFTER:
                    with self._fn_lock:
                        pending, self._pending = self._pending, None
                    if pending is not None:
                        _BUILDER.submit(self, pending)
            return
        steps, meta, hyper = fn
        steps(mode, xs, ys, sws, outs, order, first, nsteps, batch, a.params, a.grads, slots, u_product, iters,
              work, fixed, meta, hyper, state, lrs, rand, a.segments, acc)


class EagerEngine(_Engine):
    """The eager interpreter over the same program, arenas and buffers (``run_eagerly=True``)."""

    def _call(self, mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand):
        work, fixed, acc = self._scratch(batch)
        self._run_eagerly(mode, xs, ys, sws, outs, order, first, nsteps, batch, state, lrs, rand, work, fixed, acc)


#: Whether a step missing from the cache compiles on a background thread while the eager interpreter runs.
BACKGROUND = os.environ.get("NBKERAS_BACKGROUND_COMPILE", "1").strip().lower() not in ("0", "false", "no", "off")


#: Seconds of eager work (after the first call, which loads the kernels) before the step starts compiling: a model
#: trained for less never compiles, so a short script neither spends the CPU nor waits for it at exit.
COMPILE_AFTER = 0.25


def _signature(args):
    import numba

    return tuple(numba.typeof(a) for a in args)


def _is_cached(steps, args):
    try:
        return policy.is_cached(steps, _signature(args))
    except Exception:  # noqa: BLE001 -- unsure: compile in the background, as for a miss
        return False


class _Builder:
    """One thread compiling generated steps, the newest request first. A request whose engine is gone is dropped,
    and once the main thread has finished no further compilation starts: the interpreter then waits at exit only
    for the one in progress, or the thread's first (a non-daemon thread: killing numba mid-compile could crash
    the exit)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = []
        self._thread = None
        self._current = None  # a weak reference to the engine being compiled

    def submit(self, engine, sig):
        with self._lock:
            self._jobs.append((weakref.ref(engine), sig))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=_BUILDER_NAME)
                self._thread.start()

    def _next(self, first):
        with self._lock:
            # A thread's first job always runs: the main thread may end right after submitting it (a short script
            # whose last model should still reach the cache).
            while self._jobs and (first or threading.main_thread().is_alive()):
                ref, sig = self._jobs.pop()
                engine = ref()
                if engine is not None:
                    return engine, sig
            for ref, _ in self._jobs:
                engine = ref()
                if engine is not None:  # never compiled: a caller waiting in _function() compiles it itself
                    engine._started = False
                    engine._done.set()
            self._jobs.clear()
            self._thread = None
            return None

    def _work(self):
        first = True
        while True:
            job = self._next(first)
            if job is None:
                return
            first = False
            self._current = weakref.ref(job[0])
            job[0]._build(job[1])
            self._current = None
            del job


_BUILDER = _Builder()
_BUILDER_NAME = "nbkeras-compile"


def _keep_warnings_out_of_the_builder():
    """numba's type inference records warnings with ``warnings.catch_warnings(record=True)``, which swaps the
    process's warning hook and filters for the duration: run on the builder thread, it swallowed warnings the main
    thread raised meanwhile (measured: 82 of 4.7M probe warnings lost; a test's ``pytest.warns`` failed once). On
    the builder thread that capture is skipped: numba's warnings go out as raised, and nobody else's are taken."""
    try:
        from numba.core import errors
        original = errors.WarningsFixer.catch_warnings
    except (ImportError, AttributeError):  # pragma: no cover -- numba changed: nothing to adjust
        return
    if getattr(original, "_nbkeras", False):
        return

    @contextlib.contextmanager
    def catch_warnings(self, filename=None, lineno=None):
        if threading.current_thread().name == _BUILDER_NAME:
            yield
        else:
            with original(self, filename, lineno):
                yield

    catch_warnings._nbkeras = True
    errors.WarningsFixer.catch_warnings = catch_warnings


_keep_warnings_out_of_the_builder()


def _hold_compiler_lock_across_fork():
    """A fork while the builder thread compiles would leave numba's compiler lock held forever in the child (the
    thread that holds it does not exist there): any compilation in the child would deadlock. So a fork waits for the
    compilation in progress (it holds numba's lock until then), and the child starts with no builder thread and no
    requests; the steps it had not received compile again in the child when it needs them."""
    try:
        from numba.core.compiler_lock import global_compiler_lock
    except ImportError:  # pragma: no cover -- numba moved it: nothing to hold
        return

    def child():
        global_compiler_lock.release()
        _BUILDER._lock = threading.Lock()  # the old one may have been held by the vanished thread
        orphans = [ref() for ref, _ in _BUILDER._jobs] + [_BUILDER._current and _BUILDER._current()]
        _BUILDER._jobs, _BUILDER._thread, _BUILDER._current = [], None, None
        for engine in orphans:
            if engine is not None and engine._fn is None:
                engine._started = False
                engine._done = threading.Event()

    os.register_at_fork(before=global_compiler_lock.acquire, after_in_parent=global_compiler_lock.release,
                        after_in_child=child)


if hasattr(os, "register_at_fork"):
    _hold_compiler_lock_across_fork()


def chunk_limit(rand_width, batch, budget=1 << 22):
    """Batches per compiled call when no callback needs batch hooks: bounded so the pre-drawn dropout uniforms stay
    under ``budget`` floats (16 MiB in float32) and an interrupt is seen at least every 1024 batches."""
    if rand_width == 0:
        return 1024
    return max(1, min(1024, budget // max(1, rand_width * batch)))
