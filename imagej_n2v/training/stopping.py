"""When training ends and when it will: a time budget, patience, and the estimate of the rest.

n2v's defaults ask for 100 epochs of 400 steps, hours on a laptop CPU, while the loss often
levels off much earlier. Users say "train for 30 minutes" (``time_limit``) or "until it stops
getting better" (``patience``); both end training cleanly with a complete model that holds
the best weights so far, and both say that they did. The estimate tells, after every epoch,
how long the rest will take at the pace so far.

The Keras callbacks here are built by ``training_callbacks`` (TensorFlow is imported only
then); parsing and formatting need no TensorFlow.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime

from ..config.durations import format_duration
from ..errors import InputError


def describe_remaining(logs: dict) -> str:
    """The estimate an epoch's logs carry, in words: ``about 12m left, ends about 07:45``."""
    if "remaining_s" not in logs:
        return ""
    ends = datetime.fromtimestamp(logs["ends_at"]).strftime("%H:%M:%S" if logs["remaining_s"] < 120 else "%H:%M")
    limit = f" ({logs['bound']})" if logs.get("bound") else ""
    return f"about {format_duration(logs['remaining_s'])} left, ends about {ends}{limit}"


@dataclass
class Ending:
    """Why training ended before its last epoch, as recorded in history.csv and the model."""

    reason: str  # "time_limit", "patience" or "nan_loss"
    text: str  # one clause for people: "the time limit 30m was reached"
    best_epoch: int  # 1-based, counted over the whole training (resumed epochs included)

    def to_dict(self) -> dict:
        return {"reason": self.reason, "text": self.text, "best_epoch": self.best_epoch}


class Pace:
    """The time training started and each epoch took: the basis of the estimate and the budget.

    ``started`` is when the budget began (the training call, so reading data and building the
    network count against ``time_limit``); epochs are timed from their own start.
    """

    def __init__(self, time_limit: float | None, started: float | None = None):
        self.time_limit = time_limit
        self.started = time.monotonic() if started is None else started
        self.epoch_seconds: list[float] = []

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def epoch_cost(self) -> float:
        """Seconds an epoch takes at this pace: the mean after the first (which includes tracing)."""
        steady = self.epoch_seconds[1:] or self.epoch_seconds
        return sum(steady) / len(steady)

    def next_epoch_fits(self) -> bool:
        """Whether another epoch ends within the time limit at this pace."""
        return self.time_limit is None or self.elapsed + self.epoch_cost() <= self.time_limit

    def estimate(self, epochs_left: int) -> dict:
        """``remaining_s``, ``ends_at`` (Unix time) and what bounds them, for an epoch's logs."""
        remaining, bound = epochs_left * self.epoch_cost(), ""
        if self.time_limit is not None:
            fitting = max(0, math.floor((self.time_limit - self.elapsed) / self.epoch_cost()))
            if fitting < epochs_left:
                remaining, bound = fitting * self.epoch_cost(), f"time limit {format_duration(self.time_limit)}"
        return {"remaining_s": remaining, "ends_at": time.time() + remaining, "bound": bound}


def first_epoch_end(pace: Pace, steps_done: int, steps: int, epoch_started: float, first_step: float) -> float:
    """When the first epoch will end (seconds into the budget), projected from its steps so far.

    The first step (which includes tracing) counts as it took, the others at their mean pace;
    at least two steps must be done.
    """
    later = (time.monotonic() - first_step) / (steps_done - 1)
    return (first_step - pace.started) + later * (steps - 1)


def too_short(pace: Pace, needed: float, steps: int, epoch_started: float) -> InputError:
    """The error for a time limit that ends before the first epoch: what one epoch costs here."""
    epoch = needed - (epoch_started - pace.started)
    suggestion = format_duration(math.ceil(needed * 1.25 / 60) * 60 if needed > 60 else math.ceil(needed * 1.25))
    return InputError(
        f"The time limit {format_duration(pace.time_limit or 0)} is too short for one epoch here: one epoch of "
        f"{steps} steps takes about {format_duration(epoch)} on this machine, and preparing took "
        f"{format_duration(epoch_started - pace.started)}, so give a time limit of at least {suggestion} or fewer steps "
        f"per epoch."
    )


def training_callbacks(pace: Pace, patience: int | None, steps: int, history: dict[str, list[float]]):
    """The Keras callbacks that end training by time, patience or a NaN loss, and a function telling how it ended.

    Returns ``(callbacks, ended)``: ``ended()`` gives an ``Ending`` or None (all epochs ran,
    or the user stopped it). When the first epoch's steps show that it cannot end within the
    time limit, training is abandoned at once with an ``InputError`` that says what an epoch
    costs. ``history`` holds the epochs of an interrupted
    training being resumed, so patience counts from its best epoch, not from scratch.
    """
    import tensorflow as tf

    class TimeLimit(tf.keras.callbacks.Callback):
        """Ends training before an epoch that would end after the limit (or after one that did)."""

        reached = False

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.monotonic()
            self.first_step = None

        def on_train_batch_end(self, batch, logs=None):
            if self.first_step is None:
                self.first_step = time.monotonic()
            if not pace.epoch_seconds and pace.time_limit is not None and 2 <= batch + 1 < steps:
                needed = first_epoch_end(pace, batch + 1, steps, self.epoch_started, self.first_step)
                if needed > pace.time_limit:
                    raise too_short(pace, needed, steps, self.epoch_started)

        def on_epoch_end(self, epoch, logs=None):
            pace.epoch_seconds.append(time.monotonic() - self.epoch_started)
            if not self.model.stop_training and not pace.next_epoch_fits():
                self.model.stop_training = self.reached = True

    class Patience(tf.keras.callbacks.EarlyStopping):
        """Keras' early stopping on the validation loss, the epochs of a resumed training counted in."""

        def __init__(self, patience: int):
            super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            losses = history.get("val_loss", [])
            if losses:
                self.best, self.wait = min(losses), len(losses) - 1 - losses.index(min(losses))

    class FiniteLoss(tf.keras.callbacks.Callback):
        """Ends training at the first step whose loss is NaN or infinite (diverged): no later weights are better."""

        step: tuple[int, int] | None = None  # (epoch, step) 1-based, within this run, where the loss was lost

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.step is None and not math.isfinite(float((logs or {}).get("loss", 0.0))):
                self.step = (self.epoch + 1, batch + 1)
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.step is None and not math.isfinite(float((logs or {}).get("val_loss", 0.0))):
                self.step = (epoch + 1, steps)
                self.model.stop_training = True

    limit = TimeLimit()
    early = Patience(patience) if patience else None
    finite = FiniteLoss()

    def ended() -> Ending | None:
        losses = [v if math.isfinite(v) else math.inf for v in history.get("val_loss", [])]
        best = losses.index(min(losses)) + 1 if losses and math.isfinite(min(losses)) else 0
        if finite.step:
            return Ending("nan_loss", f"the loss became NaN (the training diverged) at step {finite.step[1]} of epoch "
                                      f"{finite.step[0] + before}", best)
        if early and early.stopped_epoch:
            return Ending("patience", f"the validation loss did not improve for {early.patience} epochs", best)
        if limit.reached:
            return Ending("time_limit", f"the time limit {format_duration(pace.time_limit or 0)} was reached", best)
        return None

    before = len(history.get("loss", []))
    return [finite, limit, early] if early else [finite, limit], ended
