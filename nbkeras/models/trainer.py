"""compile / fit / evaluate / predict / *_on_batch / *_generator with Keras's arguments, defaults and errors.

Keras 3's structure: every kind of data becomes a data adapter (``data_adapters.py``) behind one
``EpochIterator`` (``epoch_iterator.py``), and fit / evaluate / predict each have one loop over the iterator's
``(step, chunks)``. Arrays are validated and converted once per call and run as chunks of many batches per engine
call; a generator or PyDataset batch is converted when it arrives and runs as a one-batch chunk.

Chunk size: ``steps_per_execution`` batches when a callback needs batch hooks (callbacks see batch ends every
``steps_per_execution`` batches, as in Keras); otherwise sized by measured time so one engine call takes about
0.15 s (``ChunkSizer``), capped by ``chunk_limit``. Python sees Ctrl-C only between engine calls, so fit stops
within a fraction of a second; the KeyboardInterrupt propagates (no ``on_train_end``, as in Keras) and the model
keeps the weights, optimizer state and iteration count of the last completed chunk.

Threads: plan and engine creation is serialised by a per-model lock; evaluate and predict keep their metric state
per call and publish it to the model at the end, so they may run from many threads at once. Training (fit,
train_on_batch) holds a per-model lock taken without waiting: a second training call raises RuntimeError.
"""

import contextlib
import functools
import numbers
import threading
import warnings

import numpy as np

from .. import backend, devices
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..errors import NotCompiledError, check_kwargs
from ..layers.base import structure_version
from . import data as data_module
from .compile_utils import LogLayout, build_outputs, check_metric_names
from .data import Prepared
from .data_adapters import (ArrayAdapter, DatasetAdapter, GeneratorAdapter, is_dataset, is_iterator_like,
                            unpack)
from .data_adapters import epoch_order as _epoch_order  # noqa: F401  (tests import it from here)
from .engine import Arena, CompiledEngine, EagerEngine, Plan, chunk_limit, random_count
from .epoch_iterator import ChunkSizer, EpochIterator


def _compute(method):
    """Run a public training/inference method under the kernel set's thread policy."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with backend.compute_threads():
            return method(self, *args, **kwargs)

    return wrapper


def _check_positive_int(value, name, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


def _check_nonnegative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    return int(value)


class Trainer:
    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self.steps_per_execution = 1
        self.run_eagerly = False
        self.jit_compile = "auto"
        self._compile_args = None
        self._plan = None
        self._plan_key = None
        self._plan_version = None  # structure_version() when the plan was last checked against the weights
        self._engine = None
        self._arena = None
        self._arena_version = None
        self._state = np.zeros(2, np.float64)
        self._forward_engine = None
        self._build_lock = threading.RLock()  # plan, engine and graph creation
        self._train_lock = threading.Lock()  # one training call at a time

    def _on_graph_changed(self):
        self._plan = None
        self._engine = None
        self._arena = None
        self._forward_engine = None

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True,
                sample_weight_mode=None, target_tensors=None, **kwargs):
        """Configure training (Keras 3 arguments, plus Keras 2's sample_weight_mode and target_tensors)."""
        check_kwargs(kwargs, ("distribute", "pss_evaluation_shards", "experimental_steps_per_execution"),
                     "compile")
        for step in ("train_step", "test_step", "predict_step"):
            if getattr(type(self), step, None) is not None:
                raise ValueError(f"{type(self).__name__} overrides `{step}`: Keras 3 makes custom steps backend-"
                                 f"specific (JAX, TensorFlow or PyTorch code), and nbkeras compiles its own step from "
                                 f"the model's layers, so a custom `{step}` cannot run. Express the computation as "
                                 f"layers, a custom loss or metrics instead")
        if kwargs.get("distribute") is not None:
            raise ValueError("compile: `distribute` is not supported by nbkeras")
        self.optimizer = optimizers_module.get(optimizer)
        if loss is not None:
            for item in (loss.values() if isinstance(loss, dict) else loss if isinstance(loss, (list, tuple))
                         else [loss]):
                if item is not None and not (isinstance(item, str) and item.lower() in ("crossentropy", "ce")):
                    losses_module.get(item)
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, int, float)):
            raise ValueError("Expected `loss_weights` argument to be a float (single output case) or a list, tuple, "
                             f"or dict (multiple output case). Received instead: loss_weights={loss_weights!r}")
        output_names = self.output_names if self._graph_ready else None
        check_metric_names(metrics, output_names, "metrics")
        check_metric_names(weighted_metrics, output_names, "weighted_metrics")
        steps_per_execution = _check_positive_int(steps_per_execution, "steps_per_execution", allow_none=False)
        if sample_weight_mode not in (None, "temporal") and not isinstance(sample_weight_mode, (list, dict)):
            raise ValueError(f"`sample_weight_mode` must be None or 'temporal', got {sample_weight_mode!r}")
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"`jit_compile` must be 'auto', True or False, got {jit_compile!r}")
        self.loss = loss
        self.run_eagerly = bool(run_eagerly)
        self.jit_compile = False if self.run_eagerly else jit_compile
        self.steps_per_execution = steps_per_execution
        self._compile_args = dict(loss=loss, loss_weights=loss_weights, metrics=metrics,
                                  weighted_metrics=weighted_metrics, sample_weight_mode=sample_weight_mode,
                                  target_tensors=target_tensors)
        with self._build_lock:
            self._plan = None
            self._engine = None
            self._state = np.zeros(2, np.float64)
            self._device_request = devices.scoped()  # `with nbkeras.device(...)` around compile() places the model
        self.compiled = True

    def _assert_compiled(self, method):
        if not self.compiled:
            raise NotCompiledError(f"You must call `compile()` before using the model (in `{method}()`).")

    def _assert_has_loss(self, x=None):
        """Keras trains a model compiled without a loss on what its layers add (add_loss, activity and weight
        regularizers); with none of those either, there is nothing to minimise. A subclassed model not built yet
        is built from ``x`` first (as fit would); from a generator it is not, and the check is skipped."""
        if self._compile_args.get("loss") is not None:
            return
        if not self._graph_ready and x is not None and not is_iterator_like(x):
            self._graph_for(x)
        if self._graph_ready and not self._adds_losses():
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")

    def _adds_losses(self):
        from ..layers.base import _self_and_sublayers
        from .program import ExecutionGraph, flatten

        if flatten(ExecutionGraph(self.inputs, self._nodes, self.outputs))[0].losses:  # add_loss, nested too
            return True
        return any(layer is not self and (getattr(layer, "activity_regularizer", None) is not None
                                          or layer.weight_regularizers())
                   for layer in _self_and_sublayers(self))

    # -------------------------------------------------------------- plan
    def _dtype(self):
        return np.dtype(backend.floatx())

    def _ensure_plan(self, y_shapes):
        """The training plan and engine for targets of these shapes, built once (under the model's lock)."""
        targets = tuple(None if s is None else (len(s), s[-1] if len(s) else None) for s in y_shapes)
        version = structure_version()
        with self._build_lock:
            if self._plan is not None and self._plan_key[0] == targets and self._plan_version == version:
                self._plan.arena.ensure_bound()  # no layer changed since the plan was checked: skip the weight walk
                return self._plan, self._engine
            key = (targets, tuple(id(v) for v in self.trainable_weights))
            if self._plan is not None and self._plan_key == key:
                self._plan.arena.ensure_bound()
                self._plan_version = version
                return self._plan, self._engine
            if self._arena is None or not self._arena.matches(self):
                self._arena = Arena(self, self._dtype())
            else:
                self._arena.ensure_bound()
            self.optimizer.build(self._arena.n_trainable, self._arena.dtype)
            outs = build_outputs(self, self._compile_args, y_shapes)
            layout = LogLayout(outs)
            plan = Plan(self, self._arena, self.optimizer, outs, layout)
            engine = self._make_engine(plan)
            self._plan, self._plan_key, self._engine = plan, key, engine
            self._plan_version = structure_version()  # after these assignments, which bump it themselves
            if self._state.shape[0] != layout.size:
                self._state = np.zeros(layout.size, np.float64)
            return plan, engine

    def _make_engine(self, plan):
        """The engine for ``plan`` on this model's device (see nbkeras/devices.py): the CUDA interpreter on a GPU,
        else the eager interpreter (run_eagerly) or the compiled step."""
        if devices.resolve(getattr(self, "_device_request", None)) == "cuda":
            from .cuda_engine import CudaEngine

            return CudaEngine(plan)
        return EagerEngine(plan) if self.run_eagerly else CompiledEngine(plan)

    def _current_plan(self):
        with self._build_lock:
            return self._plan, self._engine

    def _inference_engine(self):
        """The training engine when there is one, else a forward-only one (predict works before compile())."""
        with self._build_lock:
            if self.compiled and self._plan is not None:
                self._plan.arena.ensure_bound()
                return self._engine
            version = structure_version()
            if self._arena is None or (self._arena_version != version and not self._arena.matches(self)):
                self._arena = Arena(self, self._dtype())
                self._forward_engine = None
            self._arena_version = version
            self._arena.ensure_bound()
            if self._forward_engine is None:
                plan = Plan(self, self._arena, None, [], LogLayout([]))
                self._forward_engine = self._make_engine(plan)
            return self._forward_engine

    def _graph_for(self, x):
        with self._build_lock:
            self._ensure_graph_for(x)
            self._require_graph()

    @contextlib.contextmanager
    def _training(self, method):
        """Exclusive training: a second fit/train_on_batch while one runs (any thread) raises RuntimeError."""
        if not self._train_lock.acquire(blocking=False):
            raise RuntimeError(f"{method}(): this model is already being trained by another call (fit or "
                               f"train_on_batch, possibly from another thread). Training one model from two calls "
                               f"at once would corrupt its weights; wait for the other call to finish.")
        try:
            yield
        finally:
            self._train_lock.release()

    # -------------------------------------------------------------- data
    def _prepare(self, x, y, sample_weight, class_weight=None, keep_plan=False):
        """Validate and convert one call's data (or one generator batch) into a ``Prepared`` carrying its plan and
        engine; builds the plan from the targets' shapes unless ``keep_plan`` (validation data inside fit must use
        the plan training is running)."""
        self._graph_for(x)
        if y is None and self._compile_args and self._compile_args.get("target_tensors") is not None:
            y = self._compile_args["target_tensors"]
        dtype = self._dtype()
        xs = data_module.as_inputs(self, x, dtype)
        if y is None:
            if self._needs_targets():
                raise ValueError("`y` is required: the model was compiled with a loss, so targets are needed "
                                 "(pass y=..., or compile with target_tensors)")
            y_shapes = [None] * len(self.outputs)
        else:
            y_shapes = data_module.y_shapes(self, y)
        plan, engine = self._current_plan() if keep_plan else (None, None)
        if plan is None:
            plan, engine = self._ensure_plan(y_shapes)
        if y is None:
            ys = [np.zeros((0, 0), dtype) for _ in plan.outputs]
            for op in plan.outputs:
                op.sparse_y, op.y_width = False, 0
        else:
            ys = data_module.as_targets(self, plan.outputs, y, dtype)
        n = data_module.check_lengths(xs, ys, [])
        if class_weight is not None and sample_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        sws = data_module.as_sample_weights(self, plan.outputs, sample_weight, n, dtype)
        data_module.check_lengths(xs, ys, sws)
        prepared = Prepared(xs, ys, sws, plan, engine)
        if class_weight is not None:
            prepared = self._with_class_weight(prepared, class_weight)
        return prepared

    def _prepare_inputs(self, x):
        """Inputs alone, for predict, with the inference engine."""
        self._graph_for(x)
        xs = tuple(data_module.as_inputs(self, x, self._dtype()))
        data_module.check_lengths(xs, [], [])
        engine = self._inference_engine()
        return Prepared(xs, (), (), engine.plan, engine)

    def _with_class_weight(self, prepared, class_weight):
        plan = prepared.plan
        w = data_module.class_weights_to_sample_weights(class_weight, prepared.ys, plan.outputs, prepared.n)
        w = np.ascontiguousarray(np.broadcast_to(w, (prepared.n, plan.outputs[0].rows_per_sample)),
                                 dtype=self._dtype())
        return prepared.with_weights((w,))

    def _needs_targets(self):
        args = self._compile_args or {}
        return args.get("loss") is not None or bool(args.get("metrics")) or bool(args.get("weighted_metrics"))

    def _iterator(self, mode, x, y=None, sample_weight=None, class_weight=None, batch_size=32, shuffle=False,
                  steps=None, keep_plan=False, prepared=None, workers=None, use_multiprocessing=None,
                  max_queue_size=None):
        """The EpochIterator for ``mode`` ('train', 'test' or 'predict') over any supported data."""
        rng = backend.rng()
        if prepared is None and is_iterator_like(x):
            kind = "PyDataset" if is_dataset(x) else "Python generator"
            for value, name, what in ((y, "y", "the targets"), (sample_weight, "sample_weight",
                                                                 "the sample weights")):
                if value is not None:
                    raise ValueError(f"When providing `x` as a {kind}, `{name}` should not be passed. Instead, "
                                     f"{what} should be included as part of the {kind}.")
            if is_dataset(x):
                adapter = DatasetAdapter(x, shuffle=shuffle, workers=workers, use_multiprocessing=use_multiprocessing,
                                         max_queue_size=max_queue_size)
            else:
                adapter = GeneratorAdapter(x)
            return EpochIterator(adapter, steps, self._item_converter(mode, class_weight, keep_plan,
                                                                      adapter.dataset), rng)
        if prepared is None:
            prepared = self._prepare_inputs(x) if mode == "predict" else \
                self._prepare(x, y, sample_weight, class_weight, keep_plan=keep_plan)
        return EpochIterator(ArrayAdapter(prepared, batch_size, shuffle), steps, None, rng)

    def _item_converter(self, mode, class_weight, keep_plan, dataset):
        def convert(item):
            bx, by, bsw = unpack(item, predict=mode == "predict", dataset=dataset)
            if mode == "predict":
                return self._prepare_inputs(bx)
            if class_weight is not None and bsw is not None:
                raise ValueError("You cannot specify `class_weight` and `sample_weight` at the same time.")
            return self._prepare(bx, by, bsw, class_weight, keep_plan=keep_plan)

        return convert

    # ----------------------------------------------------------- metrics
    def reset_metrics(self):
        self._state[:] = 0.0

    @property
    def metrics_names(self):
        """Labels of evaluate()'s outputs, in its order (Keras 2's meaning; empty before the first data)."""
        plan = self._plan
        if plan is None or not self.compiled:
            return []
        logs = plan.layout.logs(np.zeros(plan.layout.size, np.float64))
        return plan.layout.ordered_names(logs)

    def _logs(self):
        return self._plan.layout.logs(self._state)

    def _execution_size(self, iterator, hooks, mode, batch_size):
        """``size()`` for the iterator and the sizer timing calls (None when sizes are fixed)."""
        spe = self.steps_per_execution
        if hooks:
            return (lambda: spe), None
        if not iterator.chunked:
            return (lambda: 1), None
        width = iterator.adapter.data.plan.rand_width if mode == "train" else 0
        sizer = ChunkSizer(max(spe, chunk_limit(width, batch_size)))
        return sizer, sizer

    # --------------------------------------------------------------- fit
    @_compute
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False, **kwargs):
        check_kwargs(kwargs, (), "fit")
        self._assert_compiled("fit")
        self._assert_has_loss(x)
        batch_size = _check_positive_int(batch_size, "batch_size")
        epochs = _check_nonnegative_int(epochs, "epochs")
        initial_epoch = _check_nonnegative_int(initial_epoch, "initial_epoch")
        steps_per_epoch = _check_positive_int(steps_per_epoch, "steps_per_epoch")
        validation_steps = _check_positive_int(validation_steps, "validation_steps")
        validation_batch_size = _check_positive_int(validation_batch_size, "validation_batch_size")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
                not 0.0 <= validation_split < 1.0:
            raise ValueError(f"`validation_split` must be a float in [0, 1), got {validation_split!r}")
        _check_validation_freq(validation_freq)
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"`shuffle` must be a bool or 'batch', got {shuffle!r}")
        if class_weight is not None and sample_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        if validation_split and validation_data is None and is_iterator_like(x):
            raise ValueError("Argument `validation_split` is only supported for tensors or NumPy arrays. Found "
                             f"incompatible type in the input: {[type(x)]}")
        loader = _loader_args(workers, use_multiprocessing, max_queue_size)
        batch_size = batch_size or 32
        with self._training("fit"):
            if validation_split and validation_data is None:
                full = self._prepare(x, y, sample_weight)
                split_at = data_module.split_validation(full.xs, validation_split)
                train, val = full.take(0, split_at), full.take(split_at, full.n)
                if class_weight is not None:
                    train = self._with_class_weight(train, class_weight)
                iterator = self._iterator("train", None, batch_size=batch_size, shuffle=shuffle,
                                          steps=steps_per_epoch, prepared=train)
                make_val = functools.partial(self._iterator, "test", None, batch_size=validation_batch_size or
                                             batch_size, steps=validation_steps, prepared=val)
            else:
                iterator = self._iterator("train", x, y, sample_weight, class_weight, batch_size, shuffle,
                                          steps_per_epoch, **loader)
                make_val = None
                if validation_data is not None:
                    if is_iterator_like(validation_data):
                        vx, vy, vsw = validation_data, None, None
                    else:
                        vx, vy, vsw = data_module.unpack_validation_data(validation_data)
                    # Built at the first validation: the plan comes from the training data, which a generator
                    # only supplies once training has started.
                    make_val = functools.partial(self._iterator, "test", vx, vy, vsw,
                                                 batch_size=validation_batch_size or batch_size,
                                                 steps=validation_steps, keep_plan=True, **loader)
            try:
                return self._fit_loop(iterator, make_val, epochs, initial_epoch, validation_freq, callbacks,
                                      verbose)
            finally:
                iterator.close()

    def _fit_loop(self, iterator, make_val, epochs, initial_epoch, validation_freq, callbacks, verbose):
        from ..callbacks import CallbackList
        from ..callbacks.progbar_logger import resolve_verbose

        verbose = resolve_verbose(verbose)
        if not isinstance(callbacks, CallbackList):
            callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=epochs, steps=iterator.num_batches)
        rng = backend.rng()
        spe = self.steps_per_execution
        self.stop_training = False
        plan, state, val_iterator = None, None, None
        buffers = {}
        logs = {}
        callbacks.on_train_begin()
        hooks = callbacks.needs_batch_hooks("train")
        size, sizer = self._execution_size(iterator, hooks, "train", getattr(iterator.adapter, "batch_size", 1))
        iterator.reset()
        try:
            for epoch in range(initial_epoch, epochs):
                if state is not None:
                    state[:] = 0.0
                    self._state = state
                else:
                    self.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                with contextlib.closing(iterator.enumerate_epoch(size)) as executions:
                    for step, chunks in executions:
                        if hooks:
                            callbacks.on_train_batch_begin(step)
                        for chunk in chunks:
                            if chunk.data.plan is not plan:  # the first batch (or a generator's new targets)
                                plan = chunk.data.plan
                                if state is None or state.shape[0] != plan.layout.size:
                                    state = np.zeros(plan.layout.size, np.float64)
                                self._state = state
                            with sizer.timed(chunk.nsteps) if sizer is not None else contextlib.nullcontext():
                                self._train_chunk(chunk, state, buffers, rng)
                        if hooks:
                            # Keras reports the execution's nominal last step, begin + steps_per_execution - 1, also
                            # when the data ran out before it.
                            callbacks.on_train_batch_end(step + spe - 1, plan.layout.logs(state))
                            if self.stop_training:
                                break
                if iterator.exhausted or plan is None:
                    break  # the data gave nothing this epoch (an exhausted generator): training ends here
                epoch_logs = plan.layout.logs(state)
                if make_val is not None and _should_eval(epoch, validation_freq):
                    if val_iterator is None:
                        val_iterator = make_val()
                    val_logs = self._evaluate_loop(val_iterator, callbacks, in_fit=True)
                    if val_logs is not None:
                        epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                logs = epoch_logs
                if self.stop_training:
                    break
        finally:
            if val_iterator is not None:
                val_iterator.close()
        callbacks.on_train_end(logs)
        return self.history

    def _train_chunk(self, chunk, state, buffers, rng):
        """One engine call: learning rates and dropout uniforms for ``chunk.nsteps`` batches, then the steps.
        ``buffers`` keeps the two arrays between calls; the uniforms are refilled in place, the same stream as
        drawing them afresh, so results do not depend on how batches are grouped into chunks."""
        data, plan = chunk.data, chunk.data.plan
        lrs = buffers.get("lrs")
        if lrs is None or lrs.shape[0] < chunk.nsteps:
            lrs = buffers["lrs"] = np.empty(chunk.nsteps, np.float64)
        self.optimizer.learning_rates(chunk.nsteps, lrs)
        count = random_count(data.n, chunk.first, chunk.nsteps, chunk.batch_size, plan.rand_width)
        rand = buffers.get("rand")
        if rand is None or rand.shape[0] < count or rand.dtype != plan.arena.dtype:
            rand = buffers["rand"] = np.empty(count, plan.arena.dtype)
        if not getattr(data.engine, "device_uniforms", False):
            rng.random(out=rand[:count], dtype=plan.arena.dtype)
        data.engine.train(data, chunk.order, chunk.first, chunk.nsteps, chunk.batch_size, state, lrs, rand[:count])

    # ---------------------------------------------------------- evaluate
    @_compute
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, max_queue_size=10, workers=1, use_multiprocessing=False,
                 **kwargs):
        check_kwargs(kwargs, (), "evaluate")
        self._assert_compiled("evaluate")
        batch_size = _check_positive_int(batch_size, "batch_size")
        steps = _check_positive_int(steps, "steps")
        iterator = self._iterator("test", x, y, sample_weight, batch_size=batch_size or 32, steps=steps,
                                  **_loader_args(workers, use_multiprocessing, max_queue_size))
        try:
            logs, plan = self._evaluate_loop(iterator, callbacks, verbose=verbose, with_plan=True)
        finally:
            iterator.close()
        if return_dict:
            return logs
        results = plan.layout.ordered(logs)
        return results[0] if len(results) == 1 else results

    def _evaluate_loop(self, iterator, callbacks, verbose=0, in_fit=False, with_plan=False):
        """One pass of ``iterator`` in test mode with its own metric state, published to the model at the end.
        Returns the logs sorted by name (Keras's pythonify_logs), or None inside fit when the data gave nothing."""
        callbacks = self._callback_list(callbacks, verbose, iterator.num_batches)
        spe = self.steps_per_execution
        plan, state = None, None
        callbacks.on_test_begin()
        hooks = callbacks.needs_batch_hooks("test")
        size, sizer = self._execution_size(iterator, hooks, "test", getattr(iterator.adapter, "batch_size", 1))
        iterator.reset()
        with warnings.catch_warnings():
            if in_fit:
                warnings.simplefilter("ignore")  # one warning below says it, not the iterator's
            with contextlib.closing(iterator.enumerate_epoch(size)) as executions:
                for step, chunks in executions:
                    if hooks:
                        callbacks.on_test_batch_begin(step)
                    for chunk in chunks:
                        data = chunk.data
                        if plan is None:
                            plan = data.plan
                            state = np.zeros(plan.layout.size, np.float64)
                        with sizer.timed(chunk.nsteps) if sizer is not None else contextlib.nullcontext():
                            data.engine.test(data, chunk.order, chunk.first, chunk.nsteps, chunk.batch_size, state)
                    if hooks:
                        callbacks.on_test_batch_end(step + spe - 1, plan.layout.logs(state))
        if plan is None:
            if not in_fit:
                raise ValueError("The data source for evaluate() produced no batches")
            warnings.warn("The validation data ran out: no validation this epoch (a generator passed as "
                          "`validation_data` is consumed; pass `validation_steps`, or a PyDataset, to validate "
                          "every epoch).", stacklevel=3)
            callbacks.on_test_end({})
            return None
        self._state = state
        logs = dict(sorted(plan.layout.logs(state).items()))
        callbacks.on_test_end(logs)
        return (logs, plan) if with_plan else logs

    def _callback_list(self, callbacks, verbose, steps):
        """The user's callbacks for evaluate/predict, with a progress bar unless verbose is 0; a CallbackList
        passed in (fit's, during validation) is used as it is."""
        from ..callbacks import CallbackList
        from ..callbacks.progbar_logger import resolve_verbose

        if isinstance(callbacks, CallbackList):
            return callbacks
        verbose = resolve_verbose(verbose)
        return CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps)

    # ----------------------------------------------------------- predict
    @_compute
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, max_queue_size=10, workers=1,
                use_multiprocessing=False, **kwargs):
        check_kwargs(kwargs, (), "predict")
        batch_size = _check_positive_int(batch_size, "batch_size") or 32
        steps = _check_positive_int(steps, "steps")
        iterator = self._iterator("predict", x, batch_size=batch_size, steps=steps,
                                  **_loader_args(workers, use_multiprocessing, max_queue_size))
        try:
            return self._predict_loop(iterator, callbacks, verbose)
        finally:
            iterator.close()

    def _predict_loop(self, iterator, callbacks, verbose):
        callbacks = self._callback_list(callbacks, verbose, iterator.num_batches)
        spe = self.steps_per_execution
        shapes = [tuple(t.shape[1:]) for t in self.outputs]
        outs, pieces = None, []
        if iterator.chunked:
            adapter = iterator.adapter
            total = min(iterator.num_batches, adapter.num_batches)
            rows = min(adapter.data.n, total * adapter.batch_size)
            outs = tuple(np.empty((rows, Plan.width(t)), adapter.data.plan.arena.dtype) for t in self.outputs)
        callbacks.on_predict_begin()
        hooks = callbacks.needs_batch_hooks("predict")
        size, sizer = self._execution_size(iterator, hooks, "predict", getattr(iterator.adapter, "batch_size", 1))
        iterator.reset()
        with contextlib.closing(iterator.enumerate_epoch(size)) as executions:
            for step, chunks in executions:
                if hooks:
                    callbacks.on_predict_batch_begin(step)
                produced = []
                for chunk in chunks:
                    data = chunk.data
                    if outs is not None:
                        target = outs
                        start, stop = chunk.row_range()
                    else:
                        target = tuple(np.empty((data.n, Plan.width(t)), data.plan.arena.dtype)
                                       for t in self.outputs)
                        start, stop = 0, data.n
                        pieces.append(target)
                    with sizer.timed(chunk.nsteps) if sizer is not None else contextlib.nullcontext():
                        data.engine.predict(data.xs, target, chunk.order, chunk.first, chunk.nsteps, chunk.batch_size)
                    produced.append([o[start:stop] for o in target])
                if hooks:
                    batch = [np.concatenate([p[i] for p in produced]) if len(produced) > 1 else produced[0][i]
                             for i in range(len(shapes))]
                    callbacks.on_predict_batch_end(step + spe - 1, {"outputs": self._pack_outputs(
                        [b.reshape((-1,) + s) for b, s in zip(batch, shapes)])})
        callbacks.on_predict_end()
        if outs is None:
            if not pieces:
                raise ValueError("The data source for predict() produced no batches")
            outs = tuple(np.concatenate([p[i] for p in pieces]) for i in range(len(shapes)))
        return self._pack_outputs([o.reshape((o.shape[0],) + s) for o, s in zip(outs, shapes)])

    # ------------------------------------------------------ batch methods
    @_compute
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        self._assert_compiled("train_on_batch")
        self._assert_has_loss(x)
        with self._training("train_on_batch"):
            data = self._prepare(x, y, sample_weight, class_weight)
            plan = data.plan
            if reset_metrics:
                self.reset_metrics()
            lrs = np.empty(1, np.float64)
            self.optimizer.learning_rates(1, lrs)
            count = random_count(data.n, 0, 1, data.n, plan.rand_width)
            rand = backend.rng().random(count, dtype=plan.arena.dtype) if count else np.empty(0, plan.arena.dtype)
            data.engine.train(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, self._state, lrs, rand)
            return self._batch_result(plan, return_dict)

    @_compute
    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = self._prepare(x, y, sample_weight)
        if reset_metrics:
            self.reset_metrics()
        data.engine.test(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, self._state)
        return self._batch_result(data.plan, return_dict)

    def _batch_result(self, plan, return_dict):
        logs = plan.layout.logs(self._state)
        if return_dict:
            return dict(sorted(logs.items()))
        results = plan.layout.ordered(logs)
        return results[0] if len(results) == 1 else results

    @_compute
    def predict_on_batch(self, x):
        data = self._prepare_inputs(x)
        outs = tuple(np.empty((data.n, Plan.width(t)), data.plan.arena.dtype) for t in self.outputs)
        data.engine.predict(data.xs, outs, np.arange(data.n, dtype=np.int64), 0, 1, data.n)
        return self._pack_outputs([o.reshape((data.n,) + tuple(t.shape[1:])) for o, t in zip(outs, self.outputs)])

    # ---------------------------------------------------- Keras 2 names
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, initial_epoch=initial_epoch,
                        shuffle=shuffle, max_queue_size=max_queue_size, workers=workers,
                        use_multiprocessing=use_multiprocessing)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                             max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                            max_queue_size=max_queue_size, workers=workers, use_multiprocessing=use_multiprocessing)


def _loader_args(workers, use_multiprocessing, max_queue_size):
    """Keras 2's fit()/evaluate()/predict() arguments for a PyDataset: a value other than the default overrides
    what the PyDataset says (Keras 3 reads them from the PyDataset only); None keeps the PyDataset's setting."""
    workers = _check_nonnegative_int(workers, "workers")
    max_queue_size = _check_positive_int(max_queue_size, "max_queue_size", allow_none=False)
    return dict(workers=None if workers == 1 else workers,
                use_multiprocessing=True if use_multiprocessing else None,
                max_queue_size=None if max_queue_size == 10 else max_queue_size)


def _check_validation_freq(validation_freq):
    if isinstance(validation_freq, bool):
        raise ValueError(f"`validation_freq` must be an int or a container of epoch numbers, got {validation_freq!r}")
    if isinstance(validation_freq, numbers.Integral):
        if validation_freq <= 0:
            raise ValueError(f"`validation_freq` must be a positive integer, got {validation_freq}")
        return
    try:
        iter(validation_freq)
    except TypeError:
        raise ValueError("`validation_freq` must be an int or a container of epoch numbers, got "
                         f"{validation_freq!r}") from None


def _should_eval(epoch, validation_freq):
    epoch = epoch + 1  # one-indexed, as Keras counts for validation_freq
    if isinstance(validation_freq, numbers.Integral):
        return epoch % validation_freq == 0
    return epoch in validation_freq
