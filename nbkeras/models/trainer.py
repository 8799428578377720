"""compile / fit / evaluate / predict / *_on_batch / *_generator with Keras's arguments, defaults and errors.

Per call, Python validates and converts the data once (``data.py``), builds or reuses the plan (``engine.py``),
then runs chunks of batches through one engine call each: ``steps_per_execution`` batches when a callback needs
batch hooks, otherwise up to an epoch at a time. Callbacks see batch ends every ``steps_per_execution`` batches,
as in Keras.
"""

import functools
import math
import numbers
import warnings

import numpy as np

from .. import backend
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..errors import NotCompiledError, check_kwargs
from . import data as data_module
from .compile_utils import LogLayout, build_outputs, check_metric_names
from .engine import Arena, CompiledEngine, EagerEngine, Plan, chunk_limit, random_count


def _compute(method):
    """Run a public training/inference method under the kernel set's thread policy."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with backend.compute_threads():
            return method(self, *args, **kwargs)

    return wrapper


class Prepared:
    """Validated arrays for one call: inputs, targets and sample weights as contiguous 2-D arrays."""

    def __init__(self, xs, ys, sws):
        self.xs, self.ys, self.sws = tuple(xs), tuple(ys), tuple(sws)
        self.n = xs[0].shape[0]

    def take(self, start, stop):
        def cut(arrays):
            return tuple(np.ascontiguousarray(a[start:stop]) if a.shape != (0, 0) else a for a in arrays)

        return Prepared(cut(self.xs), cut(self.ys), cut(self.sws))


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
        self._engine = None
        self._arena = None
        self._state = np.zeros(2, np.float64)

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
        self._plan = None
        self._engine = None
        self._state = np.zeros(2, np.float64)
        self.compiled = True

    def _assert_compiled(self, method):
        if not self.compiled:
            raise NotCompiledError(f"You must call `compile()` before using the model (in `{method}()`).")

    def _assert_has_loss(self):
        if self._compile_args.get("loss") is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")

    # -------------------------------------------------------------- plan
    def _dtype(self):
        return np.dtype(backend.floatx())

    def _ensure_plan(self, y_shapes):
        key = (tuple(None if s is None else (len(s), s[-1] if len(s) else None) for s in y_shapes),
               tuple(id(v) for v in self.trainable_weights))
        if self._plan is not None and self._plan_key == key:
            self._plan.arena.ensure_bound()
            return self._plan
        if self._arena is None or not self._arena.matches(self):
            self._arena = Arena(self, self._dtype())
        else:
            self._arena.ensure_bound()
        self.optimizer.build(self._arena.n_trainable, self._arena.dtype)
        outs = build_outputs(self, self._compile_args, y_shapes)
        layout = LogLayout(outs)
        self._plan = Plan(self, self._arena, self.optimizer, outs, layout)
        self._plan_key = key
        self._engine = EagerEngine(self._plan) if self.run_eagerly else CompiledEngine(self._plan)
        if self._state.shape[0] != layout.size:
            self._state = np.zeros(layout.size, np.float64)
        return self._plan

    def _inference_engine(self):
        """The training engine when there is one, else a forward-only one (predict works before compile())."""
        if self.compiled and self._plan is not None:
            self._plan.arena.ensure_bound()
            return self._engine
        if self._arena is None or not self._arena.matches(self):
            self._arena = Arena(self, self._dtype())
            self._forward_engine = None
        self._arena.ensure_bound()
        if getattr(self, "_forward_engine", None) is None:
            plan = Plan(self, self._arena, None, [], LogLayout([]))
            self._forward_engine = EagerEngine(plan) if self.run_eagerly else CompiledEngine(plan)
        return self._forward_engine

    # -------------------------------------------------------------- data
    def _prepare(self, x, y, sample_weight, class_weight=None, keep_plan=False):
        """Validate and convert one call's data; builds the plan from the targets' shapes unless ``keep_plan``
        (validation data inside fit must use the plan training is running)."""
        self._ensure_graph_for(x)
        self._require_graph()
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
        plan = self._plan if keep_plan and self._plan is not None else self._ensure_plan(y_shapes)
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
        prepared = Prepared(xs, ys, sws)
        if class_weight is not None:
            prepared = self._with_class_weight(prepared, class_weight)
        return prepared

    def _with_class_weight(self, prepared, class_weight):
        plan = self._plan
        w = data_module.class_weights_to_sample_weights(class_weight, prepared.ys, plan.outputs, prepared.n)
        w = np.ascontiguousarray(np.broadcast_to(w, (prepared.n, plan.outputs[0].rows_per_sample)),
                                 dtype=self._dtype())
        return Prepared(prepared.xs, prepared.ys, (w,))

    def _needs_targets(self):
        args = self._compile_args or {}
        return args.get("loss") is not None or bool(args.get("metrics")) or bool(args.get("weighted_metrics"))

    # ----------------------------------------------------------- metrics
    def reset_metrics(self):
        self._state[:] = 0.0

    @property
    def metrics_names(self):
        """Labels of evaluate()'s outputs, in its order (Keras 2's meaning; empty before the first data)."""
        if self._plan is None or not self.compiled:
            return []
        logs = self._plan.layout.logs(self._state)
        return self._plan.layout.ordered_names(logs)

    def _logs(self):
        return self._plan.layout.logs(self._state)

    # --------------------------------------------------------------- fit
    @_compute
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False, **kwargs):
        check_kwargs(kwargs, (), "fit")
        self._assert_compiled("fit")
        self._assert_has_loss()
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
        from .generators import is_iterator_like

        if is_iterator_like(x):
            from .generators import fit_iterator

            return fit_iterator(self, x, epochs=epochs, verbose=verbose, callbacks=callbacks,
                                validation_data=validation_data, class_weight=class_weight,
                                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                                validation_steps=validation_steps, validation_freq=validation_freq,
                                validation_batch_size=validation_batch_size, batch_size=batch_size)
        batch_size = batch_size or 32
        if validation_split and validation_data is None:
            full = self._prepare(x, y, sample_weight)
            split_at = data_module.split_validation(full.xs, validation_split)
            train, val = full.take(0, split_at), full.take(split_at, full.n)
            if class_weight is not None:
                if sample_weight is not None:
                    raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
                train = self._with_class_weight(train, class_weight)
        else:
            train = self._prepare(x, y, sample_weight, class_weight)
            val = None
            if validation_data is not None:
                vx, vy, vsw = data_module.unpack_validation_data(validation_data)
                val = self._prepare(vx, vy, vsw, keep_plan=True)
        return self._fit_arrays(train, val, batch_size, epochs, verbose, callbacks, shuffle, initial_epoch,
                                steps_per_epoch, validation_steps, validation_batch_size or batch_size,
                                validation_freq)

    def _fit_arrays(self, train, val, batch_size, epochs, verbose, callbacks, shuffle, initial_epoch,
                    steps_per_epoch, validation_steps, validation_batch_size, validation_freq):
        from ..callbacks import CallbackList
        from ..callbacks.progbar_logger import resolve_verbose

        verbose = resolve_verbose(verbose)
        plan = self._plan
        n = train.n
        num_batches = math.ceil(n / batch_size)
        steps = steps_per_epoch or num_batches
        if not isinstance(callbacks, CallbackList):
            callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=epochs, steps=steps)
        rng = backend.rng()
        self.stop_training = False
        order, cursor = None, 0
        logs = {}
        callbacks.on_train_begin()
        hooks = callbacks.needs_batch_hooks("train")
        chunk = self.steps_per_execution if hooks else max(self.steps_per_execution,
                                                           chunk_limit(plan.rand_width, batch_size))
        lrs = np.empty(max(chunk, 1), np.float64)
        # Uniforms for dropout, refilled in place each call (the same stream as drawing them afresh).
        rand_buf = np.empty(chunk * batch_size * plan.rand_width, plan.arena.dtype)
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            if order is None or steps_per_epoch is None or cursor >= num_batches:
                order, cursor = _epoch_order(n, batch_size, shuffle, rng), 0
            step = 0
            while step < steps:
                if cursor >= num_batches:
                    warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset "
                                  "or generator can generate at least `steps_per_epoch * epochs` batches.",
                                  stacklevel=2)
                    break
                nsteps = min(chunk, steps - step, num_batches - cursor)
                if hooks:
                    callbacks.on_train_batch_begin(step)
                self.optimizer.learning_rates(nsteps, lrs)
                count = random_count(n, cursor, nsteps, batch_size, plan.rand_width)
                rand = rng.random(out=rand_buf[:count], dtype=plan.arena.dtype)
                self._engine.train(train, order, cursor, nsteps, batch_size, self._state, lrs, rand)
                if hooks:
                    # Keras reports the execution's nominal last step, begin + steps_per_execution - 1, also when
                    # the data ran out before it.
                    callbacks.on_train_batch_end(step + self.steps_per_execution - 1, self._logs())
                step += nsteps
                cursor += nsteps
                if hooks and self.stop_training:
                    break
            epoch_logs = self._logs()
            if val is not None and _should_eval(epoch, validation_freq):
                val_logs = self._evaluate_prepared(val, validation_batch_size, validation_steps, callbacks)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        callbacks.on_train_end(logs)
        return self.history

    # ---------------------------------------------------------- evaluate
    @_compute
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, max_queue_size=10, workers=1, use_multiprocessing=False,
                 **kwargs):
        check_kwargs(kwargs, (), "evaluate")
        self._assert_compiled("evaluate")
        batch_size = _check_positive_int(batch_size, "batch_size")
        steps = _check_positive_int(steps, "steps")
        from .generators import is_iterator_like

        if is_iterator_like(x):
            from .generators import evaluate_iterator

            logs = evaluate_iterator(self, x, steps=steps, verbose=verbose, callbacks=callbacks)
        else:
            prepared = self._prepare(x, y, sample_weight)
            logs = self._evaluate_prepared(prepared, batch_size or 32, steps, callbacks, verbose=verbose)
        if return_dict:
            return logs
        results = self._plan.layout.ordered(logs)
        return results[0] if len(results) == 1 else results

    def _evaluate_prepared(self, data, batch_size, steps, callbacks, verbose=0):
        num_batches = math.ceil(data.n / batch_size)
        total = min(steps, num_batches) if steps else num_batches
        callbacks = self._callback_list(callbacks, verbose, total)
        order = np.arange(data.n, dtype=np.int64)
        self.reset_metrics()
        callbacks.on_test_begin()
        self._run_chunks(callbacks, "test", total,
                         lambda step, nsteps: self._engine.test(data, order, step, nsteps, batch_size, self._state),
                         lambda first, nsteps: self._logs())
        logs = dict(sorted(self._logs().items()))  # Keras's pythonify_logs sorts evaluate()'s logs by name
        callbacks.on_test_end(logs)
        return logs

    def _callback_list(self, callbacks, verbose, steps):
        """The user's callbacks for evaluate/predict, with a progress bar unless verbose is 0; a CallbackList
        passed in (fit's, during validation) is used as it is."""
        from ..callbacks import CallbackList
        from ..callbacks.progbar_logger import resolve_verbose

        if isinstance(callbacks, CallbackList):
            return callbacks
        verbose = resolve_verbose(verbose)
        return CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps)

    def _run_chunks(self, callbacks, mode, total, run, batch_logs):
        """``total`` batches of ``mode`` ('test' or 'predict'), ``run(first, nsteps)`` per engine call: batches of
        steps_per_execution when a callback uses the batch hooks (whose logs are ``batch_logs(first, nsteps)``),
        else up to 1024 per call and no hooks."""
        hooks = callbacks.needs_batch_hooks(mode)
        chunk = self.steps_per_execution if hooks else max(self.steps_per_execution, 1024)
        begin = getattr(callbacks, f"on_{mode}_batch_begin")
        end = getattr(callbacks, f"on_{mode}_batch_end")
        step = 0
        while step < total:
            nsteps = min(chunk, total - step)
            if hooks:
                begin(step)
            run(step, nsteps)
            if hooks:
                end(step + self.steps_per_execution - 1, batch_logs(step, nsteps))
            step += nsteps

    # ----------------------------------------------------------- predict
    @_compute
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, max_queue_size=10, workers=1,
                use_multiprocessing=False, **kwargs):
        check_kwargs(kwargs, (), "predict")
        batch_size = _check_positive_int(batch_size, "batch_size") or 32
        steps = _check_positive_int(steps, "steps")
        from .generators import is_iterator_like

        if is_iterator_like(x):
            from .generators import predict_iterator

            return predict_iterator(self, x, steps=steps, verbose=verbose, callbacks=callbacks)
        self._ensure_graph_for(x)
        self._require_graph()
        xs = tuple(data_module.as_inputs(self, x, self._dtype()))
        n = data_module.check_lengths(xs, [], [])
        return self._predict_arrays(xs, n, batch_size, steps, verbose, callbacks)

    def _predict_arrays(self, xs, n, batch_size, steps, verbose, callbacks):
        engine = self._inference_engine()
        plan = engine.plan
        num_batches = math.ceil(n / batch_size)
        total = min(steps, num_batches) if steps else num_batches
        rows = min(n, total * batch_size)
        outs = tuple(np.empty((rows, Plan.width(t)), plan.arena.dtype) for t in self.outputs)
        callbacks = self._callback_list(callbacks, verbose, total)
        order = np.arange(n, dtype=np.int64)
        callbacks.on_predict_begin()
        self._run_chunks(callbacks, "predict", total,
                         lambda step, nsteps: engine.predict(xs, outs, order, step, nsteps, batch_size),
                         lambda first, nsteps: {"outputs": self._pack_outputs(
                             [o[first * batch_size:min((first + nsteps) * batch_size, n)].reshape(
                                 (-1,) + tuple(t.shape[1:])) for o, t in zip(outs, self.outputs)])})
        callbacks.on_predict_end()
        shaped = [o.reshape((rows,) + tuple(t.shape[1:])) for o, t in zip(outs, self.outputs)]
        return self._pack_outputs(shaped)

    # ------------------------------------------------------ batch methods
    @_compute
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        self._assert_compiled("train_on_batch")
        self._assert_has_loss()
        data = self._prepare(x, y, sample_weight, class_weight)
        if reset_metrics:
            self.reset_metrics()
        lrs = np.empty(1, np.float64)
        self.optimizer.learning_rates(1, lrs)
        plan = self._plan
        count = random_count(data.n, 0, 1, data.n, plan.rand_width)
        rand = backend.rng().random(count, dtype=plan.arena.dtype) if count else np.empty(0, plan.arena.dtype)
        self._engine.train(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, self._state, lrs, rand)
        return self._batch_result(return_dict)

    @_compute
    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        self._assert_compiled("test_on_batch")
        data = self._prepare(x, y, sample_weight)
        if reset_metrics:
            self.reset_metrics()
        self._engine.test(data, np.arange(data.n, dtype=np.int64), 0, 1, data.n, self._state)
        return self._batch_result(return_dict)

    def _batch_result(self, return_dict):
        logs = self._logs()
        if return_dict:
            return dict(sorted(logs.items()))
        results = self._plan.layout.ordered(logs)
        return results[0] if len(results) == 1 else results

    @_compute
    def predict_on_batch(self, x):
        self._ensure_graph_for(x)
        self._require_graph()
        xs = tuple(data_module.as_inputs(self, x, self._dtype()))
        n = data_module.check_lengths(xs, [], [])
        return self._predict_arrays(xs, n, n, None, 0, None)

    # ---------------------------------------------------- Keras 2 names
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)


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


def _epoch_order(n, batch_size, shuffle, rng):
    order = np.arange(n, dtype=np.int64)
    if shuffle == "batch":
        full = (n // batch_size) * batch_size
        blocks = order[:full].reshape(-1, batch_size)
        rng.shuffle(blocks)
        order = np.concatenate([blocks.reshape(-1), order[full:]])
    elif shuffle:
        rng.shuffle(order)
    return np.ascontiguousarray(order)
