"""A running average of the network's recent weights, validated and kept in place of the last step's.

At the budgets users can afford on a CPU the weights after one step and after the next give results
2-3 dB apart (the kept epoch is a lottery). An exponential moving average of the weights over the
last steps (Polyak averaging) smooths that out: training goes on from the raw weights, while each
validation pass, the kept epoch and the saved weights use the average. The window grows from the
first step (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so an average over
a few steps is not pulled towards the untrained start.
"""

from __future__ import annotations

WINDOW_SHARE = 1.0
"""The average's window in steps, as a share of an epoch's steps."""


def decay_for(window: int, updates: int) -> float:
    """The decay of step ``updates`` (1-based) for a window of ``window`` steps: short at the start."""
    return min(1.0 - 1.0 / max(window, 1), (1.0 + updates) / (10.0 + updates))


def averaging_callback(steps_per_epoch: int):
    """A Keras callback that averages the model's weights over about ``WINDOW_SHARE`` of an epoch's steps.

    The average (BatchNorm's statistics included) is swapped in when validation begins and stays
    in through the end of the epoch, so the checkpoints, early stopping's best weights and the
    weights of the last epoch are the average; the raw weights come back before the next epoch's
    first step.
    """
    import tensorflow as tf

    window = max(1, round(WINDOW_SHARE * steps_per_epoch))

    class WeightAverage(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.averaged = [tf.Variable(w, trainable=False) for w in self.model.weights]
            self.raw = [tf.Variable(w, trainable=False) for w in self.model.weights]
            self.updates = 0
            self.swapped = False

        @tf.function
        def _update(self, decay):
            for average, weight in zip(self.averaged, self.model.weights):
                average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))

        def on_train_batch_end(self, batch, logs=None):
            self.updates += 1
            self._update(tf.constant(decay_for(window, self.updates), tf.float32))

        def on_test_begin(self, logs=None):
            if self.swapped:
                return
            for raw, weight, average in zip(self.raw, self.model.weights, self.averaged):
                raw.assign(weight)
                weight.assign(average)
            self.swapped = True

        def on_epoch_begin(self, epoch, logs=None):
            if self.swapped:
                for raw, weight in zip(self.raw, self.model.weights):
                    weight.assign(raw)
                self.swapped = False

    return WeightAverage()
