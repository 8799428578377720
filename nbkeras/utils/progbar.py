"""`Progbar`, the progress bar behind `ProgbarLogger` (Keras's `keras.utils.Progbar`), and `resolve_verbose`.

A bar draws in one of two styles:

- live: `verbose=1` and stdout is a terminal. One line is redrawn in place (carriage return) with bold and
  coloured ANSI text, at most once every `interval` seconds, plus always at the final update.
- plain: `verbose=2`, or `verbose=1` when stdout is not a terminal. Nothing appears until the final update,
  which writes one line such as `6/6 - 0s - 6ms/step - loss: 1.6453 - mae: 1.1474`.

Keras 3 decides "live" from `"posix" in sys.modules`, which is true for every process on Linux and macOS, so its
logs redirected to a file fill with escape codes and `\\r` redraws. nbkeras asks `sys.stdout.isatty()` instead;
that is the one deliberate difference. The numbers are formatted as Keras formats them (see `_format_value`).
"""

import math
import re
import sys
import time

import numpy as np

_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stdout_is_terminal():
    """Whether `sys.stdout` is an interactive terminal (False for files, pipes, pytest's capture, closed streams)."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # isatty() on a closed stream
        return False


def resolve_verbose(verbose):
    """Turn `verbose="auto"` into 1 (live bar) on a terminal and 2 (one line per epoch) otherwise.

    Keras 3 resolves "auto" to 1 everywhere; nbkeras keeps log files free of redraws. Other values pass through.
    """
    if isinstance(verbose, str) and verbose == "auto":
        return 1 if stdout_is_terminal() else 2
    return verbose


def print_msg(message, line_break=True):
    """Write to stdout and flush, so progress shows up even when stdout is a pipe."""
    message = f"{message}\n" if line_break else str(message)
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:  # e.g. a latin-1 console cannot encode the bar's box-drawing characters
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        message = message.replace("\u2501", "=")
        sys.stdout.write(message.encode(encoding, errors="replace").decode(encoding))
    sys.stdout.flush()


class Progbar:
    """Displays a progress bar.

    Args:
        target: total number of steps expected, or None if unknown.
        width: bar width in characters (live style only).
        verbose: 0 silent, 1 live bar (plain line when stdout is not a terminal), 2 plain line.
        interval: minimum seconds between two live redraws.
        stateful_metrics: names shown as given; every other name is averaged over steps. Give this or
            `stateless_metrics`, not both; with neither, every metric is averaged.
        stateless_metrics: names averaged over steps; every other name is shown as given.
        unit_name: the unit in the time-per-unit field ("step" -> `6ms/step`).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Progbar: pass `stateful_metrics` or `stateless_metrics`, not both.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None
        self._live = stdout_is_terminal()
        self._values = {}  # name -> [weighted sum, count]; the display shows sum / count
        self._values_order = []
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Record progress up to step `current` with `(name, value)` pairs; finalize defaults to current >= target."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1 and self._live:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw_live(current, now, time_per_unit, finalize)
        elif self.verbose in (1, 2) and finalize and self.target:
            print_msg(self._plain_line(current, now, time_per_unit))
        self._last_update = now

    def add(self, n, values=None):
        """Advance by `n` steps."""
        self.update(self._seen_so_far + n, values)

    def _record(self, current, values, finalize):
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            if self.stateful_metrics is not None:
                averaged = name not in self.stateful_metrics
            else:
                averaged = name in self.stateless_metrics
            if not averaged or finalize:
                # A final value is already the epoch's value: averaging it again would double-count the last step.
                self._values[name] = [value, 1]
                continue
            steps = max(current - self._seen_so_far, 1)
            total = self._values.setdefault(name, [0.0, 0])
            total[0] += value * steps
            total[1] += steps

    def _draw_live(self, current, now, time_per_unit, finalize):
        if self.target:
            digits = int(math.log10(self.target)) + 1
            filled = int(self.width * current / self.target)
            bar = f"{_BOLD}{'%*d/%d' % (digits, current, self.target)}{_RESET} "
            if filled > 0:
                bar += f"{_GREEN}{chr(0x2501) * filled}{_RESET}"
            bar += f"{_GREY}{chr(0x2501) * (self.width - filled)}{_RESET}"
        else:
            bar = "%7d/Unknown" % current
        if self.target and not finalize:
            clock = _format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        line = f"{bar} {_BOLD}{clock}{_RESET}{_format_time(time_per_unit, self.unit_name)}"
        line += "".join(f" - {k}: {_format_value(self._values[k], plain=False)}" for k in self._values_order)
        width = len(_ANSI.sub("", line))
        # Blank out what is left of a longer previous line, then end the line for good on the final update.
        line += " " * max(self._prev_total_width - width, 0)
        print_msg("\r" + line + ("\n" if finalize else ""), line_break=False)
        self._prev_total_width = width

    def _plain_line(self, current, now, time_per_unit):
        digits = int(math.log10(self.target)) + 1
        line = f"{'%*d/%d' % (digits, current, self.target)} - {now - self._start:.0f}s"
        line += f" -{_format_time(time_per_unit, self.unit_name)}"
        return line + "".join(f" - {k}: {_format_value(self._values[k], plain=True)}" for k in self._values_order)

    def _estimate_step_duration(self, current, now):
        """Seconds per step; once two steps are known the first (compilation, warm-up) is left out."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step


def _format_value(entry, plain):
    """`total / count` with 4 decimals, or 4-digit scientific notation for small values.

    Keras tests `abs(avg) > 1e-3` on the live bar but `avg > 1e-3` on the plain line, so a negative value prints
    as e.g. `-1.5000e+00` there. Both Keras 2 and 3 do this; we match it rather than fix it.
    """
    total, count = entry
    if not isinstance(total, float):
        total = np.mean(total)
    avg = total / max(1, count)
    large = avg > 1e-3 if plain else abs(avg) > 1e-3
    return f"{avg:.4f}" if large else f"{avg:.4e}"


def _format_time(seconds, unit_name):
    """` 6ms/step`, ` 2s/step` or ` 850us/step` (leading space included); zero shows as `0s`."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta
