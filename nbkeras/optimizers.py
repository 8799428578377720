"""Keras 3 optimizers over the model's flat parameter buffer.

An optimizer owns its slots (one row per slot, each as long as the trainable-parameter buffer), the iteration
counter and, for Nadam, the running momentum-schedule product. One step, in Keras 3's order: clip (clipnorm per
variable, global_clipnorm, or clipvalue), weight decay ``w -= w * weight_decay * lr``, the update kernel,
``iterations += 1``. The learning rate of a step is the schedule evaluated at ``iterations``. Each class describes
its kernel call once (``_layout``); the eager path and the generated train step both read it.
"""

import numpy as np

from .errors import check_kwargs

# Kernel-call tokens: ("slot", name) | ("lr",) | ("hyper", attribute) | ("flag", attribute) | ("step",) |
# ("u_product",)


class Optimizer:
    kernel = None
    _slot_names = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        check_kwargs(kwargs, ("lr", "decay"), type(self).__name__)
        if "lr" in kwargs:  # Keras 2 spelling
            learning_rate = kwargs["lr"]
        self.decay = float(kwargs.get("decay", 0.0))  # Keras 2's time-based decay: lr / (1 + decay * iterations)
        if self.decay < 0:
            raise ValueError(f"decay must be >= 0, got {self.decay}")
        set_clips = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                    ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: {set_clips}")
        for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm),
                     ("weight_decay", weight_decay)):
            if v is not None and (not isinstance(v, (int, float, np.floating)) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{type(self).__name__}: {n} must be a non-negative float, got {v!r}")
        if use_ema or loss_scale_factor is not None or gradient_accumulation_steps is not None:
            raise ValueError("use_ema, loss_scale_factor and gradient_accumulation_steps are not supported by nbkeras")
        self.name = name or self._default_name
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self._iterations = np.zeros(1, np.int64)
        self._slots = None
        self._u_product = None

    # ------------------------------------------------------------ state
    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if not callable(value):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.ndarray)):
                raise ValueError(f"learning_rate must be a float or a schedule, got {value!r}")
            value = float(value)
            if value < 0:
                raise ValueError(f"learning_rate must be >= 0, got {value}")
        self._learning_rate = value

    lr = learning_rate  # Keras 2 spelling

    @property
    def iterations(self):
        return int(self._iterations[0])

    def slot_names(self):
        return list(self._slot_names)

    def build(self, size, dtype):
        """Allocate slots for ``size`` trainable parameters (kept when the size and dtype match)."""
        names = self.slot_names()
        if self._slots is not None and self._slots.shape == (len(names), size) and self._slots.dtype == dtype:
            return
        self._slots = np.zeros((len(names), size), dtype=dtype)
        for i, name in enumerate(names):
            self._slots[i] = self._slot_init(name)
        self._u_product = np.ones(1, dtype=dtype)
        self._iterations[0] = 0

    def _slot_init(self, name):
        return 0.0

    @property
    def variables(self):
        out = [self._iterations]
        if self._slots is not None:
            out += list(self._slots)
        return out

    def lr_at(self, iteration):
        lr = self._learning_rate
        lr = float(lr(iteration)) if callable(lr) else lr
        if self.decay:
            lr = lr / (1.0 + self.decay * iteration)
        return lr

    def learning_rates(self, count, out):
        """Fill ``out[:count]`` with the learning rates of the next ``count`` steps."""
        start = self.iterations
        if not callable(self._learning_rate) and not self.decay:
            out[:count] = self._learning_rate
        else:
            for i in range(count):
                out[i] = self.lr_at(start + i)

    # ------------------------------------------------------ kernel call
    def _layout(self):
        raise NotImplementedError

    def describe_update(self, b):
        """The kernel calls of one step over the flat trainable buffer, in Keras 3's order: clip the gradients
        (clipnorm, else global_clipnorm, else clipvalue), decoupled weight decay, then the update rule."""
        from .models.program import EMPTY, Arg, Const, Slot

        params, grads = Arg("ptrain"), Arg("grads")
        if self.clipnorm is not None and self.clipnorm > 0:
            b.emit("optimizers.clip_by_norm", grads, Arg("segments"), Const(self.clipnorm))
        elif self.global_clipnorm is not None and self.global_clipnorm > 0:
            b.emit("optimizers.clip_by_global_norm", grads, Const(self.global_clipnorm))
        elif self.clipvalue is not None and self.clipvalue > 0:
            b.emit("optimizers.clip_by_value", grads, Const(self.clipvalue))
        if self.weight_decay is not None:
            b.emit("optimizers.apply_weight_decay", params, Arg("lr"), Const(self.weight_decay))
        names = self.slot_names()
        refs = {"lr": lambda tok: Arg("lr"), "step": lambda tok: Arg("t"), "u_product": lambda tok: Arg("u_product"),
                "slot": lambda tok: Slot(names.index(tok[1])) if tok[1] in names else EMPTY[1],
                "hyper": lambda tok: Const(float(getattr(self, tok[1]))),
                "flag": lambda tok: Const(bool(getattr(self, tok[1])))}
        b.emit(f"optimizers.{self.kernel}_update", params, grads, *(refs[tok[0]](tok) for tok in self._layout()))

    # ----------------------------------------------------------- config
    def get_config(self):
        lr = self._learning_rate
        config = {"name": self.name, "learning_rate": lr if not callable(lr) else getattr(lr, "get_config",
                                                                                           lambda: str(lr))(),
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                  "global_clipnorm": self.global_clipnorm}
        for attr in self._hyper_attrs:
            config[attr] = getattr(self, attr)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    _hyper_attrs = ()


class SGD(Optimizer):
    """SGD (Keras 3): m = momentum*m - lr*g; w += m (nesterov: w += momentum*m - lr*g); plain w -= lr*g when
    momentum is 0. Defaults: learning_rate=0.01, momentum=0.0, nesterov=False."""

    kernel = "sgd"
    _default_name = "SGD"
    _hyper_attrs = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def slot_names(self):
        return ["momentum"] if self.momentum != 0 else []

    def _layout(self):
        return [("slot", "momentum"), ("lr",), ("hyper", "momentum"), ("flag", "nesterov")]


class Adam(Optimizer):
    """Adam (Keras 3): epsilon added to sqrt(v), bias correction folded into the step size. Defaults:
    learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False."""

    kernel = "adam"
    _default_name = "adam"
    _hyper_attrs = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), \
            bool(amsgrad)

    def slot_names(self):
        return ["momentum", "velocity"] + (["velocity_hat"] if self.amsgrad else [])

    def _layout(self):
        return [("slot", "momentum"), ("slot", "velocity"), ("slot", "velocity_hat"), ("lr",), ("hyper", "beta_1"),
                ("hyper", "beta_2"), ("hyper", "epsilon"), ("flag", "amsgrad"), ("step",)]


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004), applied before the update as for every optimizer."""

    _default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Keras 3): v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + eps) -- epsilon inside the root; centered
    subtracts the squared mean gradient inside it; momentum accumulates the increment. Defaults:
    learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False."""

    kernel = "rmsprop"
    _default_name = "rmsprop"
    _hyper_attrs = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), \
            bool(centered)

    def slot_names(self):
        return ["velocity"] + (["momentum"] if self.momentum > 0 else []) + (
            ["average_gradient"] if self.centered else [])

    def _layout(self):
        return [("slot", "velocity"), ("slot", "momentum"), ("slot", "average_gradient"), ("lr",), ("hyper", "rho"),
                ("hyper", "momentum"), ("hyper", "epsilon"), ("flag", "centered")]


class Adagrad(Optimizer):
    """Adagrad (Keras 3): acc += g^2; w -= lr*g / sqrt(acc + eps). Defaults: learning_rate=0.001,
    initial_accumulator_value=0.1, epsilon=1e-7."""

    kernel = "adagrad"
    _default_name = "adagrad"
    _hyper_attrs = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def slot_names(self):
        return ["accumulator"]

    def _slot_init(self, name):
        return self.initial_accumulator_value

    def _layout(self):
        return [("slot", "accumulator"), ("lr",), ("hyper", "epsilon")]


class Adadelta(Optimizer):
    """Adadelta (Keras 3). Defaults: learning_rate=0.001, rho=0.95, epsilon=1e-7."""

    kernel = "adadelta"
    _default_name = "adadelta"
    _hyper_attrs = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def slot_names(self):
        return ["accumulated_grad", "accumulated_delta_var"]

    def _layout(self):
        return [("slot", "accumulated_grad"), ("slot", "accumulated_delta_var"), ("lr",), ("hyper", "rho"),
                ("hyper", "epsilon")]


class Adamax(Optimizer):
    """Adamax (Keras 3). Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    kernel = "adamax"
    _default_name = "adamax"
    _hyper_attrs = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def slot_names(self):
        return ["m", "u"]

    def _layout(self):
        return [("slot", "m"), ("slot", "u"), ("lr",), ("hyper", "beta_1"), ("hyper", "beta_2"),
                ("hyper", "epsilon"), ("step",)]


class Nadam(Optimizer):
    """Nadam (Keras 3), with the running momentum-schedule product as state. Defaults: learning_rate=0.001,
    beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    kernel = "nadam"
    _default_name = "nadam"
    _hyper_attrs = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def slot_names(self):
        return ["momentum", "velocity"]

    def _layout(self):
        return [("slot", "momentum"), ("slot", "velocity"), ("u_product",), ("lr",), ("hyper", "beta_1"),
                ("hyper", "beta_2"), ("hyper", "epsilon"), ("step",)]


_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
          "adamax": Adamax, "nadam": Nadam}


def get(identifier):
    """An optimizer from a name (case-insensitive), a class, an instance or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Expected one of "
                             f"{sorted(_NAMES)}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _NAMES.get(str(identifier["class_name"]).lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer config: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    return get(config)
