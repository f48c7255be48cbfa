"""The running average of the weights: what is validated and kept is the average, and training goes on from the raw weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imagej_n2v.training.averaging import averaging_callback, decay_for


def test_the_window_grows_from_the_first_step_to_its_full_length():
    decays = [decay_for(100, n) for n in range(1, 2000)]
    assert decays[0] == pytest.approx(2 / 11)  # the first average is mostly the first step's weights
    assert all(a <= b for a, b in zip(decays, decays[1:]))
    assert decays[-1] == pytest.approx(0.99)


def test_validation_and_the_kept_weights_see_the_average_and_training_the_raw_weights():
    """A real Keras fit on a tiny network: the weights seen by validation equal a numpy average of
    the weights recorded after each step, and the next epoch's first step starts from the raw ones."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2), tf.keras.layers.BatchNormalization()])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)
    steps = 4
    seen = {"raw": [], "validated": [], "epoch_start": []}

    class Record(tf.keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen["epoch_start"].append(self.model.get_weights())

        def on_train_batch_end(self, batch, logs=None):
            seen["raw"].append(self.model.get_weights())

        def on_test_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen["validated"].append(self.model.get_weights())

    # The averaging callback first, as in training: it swaps before Record looks.
    model.fit(x, y, batch_size=16, epochs=2, steps_per_epoch=steps, validation_data=(x, y), verbose=0,
              callbacks=[averaging_callback(steps), Record()])

    start = seen["epoch_start"][0]
    average = [w.astype(np.float64) for w in start]
    expected = []
    for n, raw in enumerate(seen["raw"], 1):
        decay = decay_for(steps, n)
        average = [decay * a + (1 - decay) * r for a, r in zip(average, raw)]
        if n % steps == 0:
            expected.append([a.copy() for a in average])
    for validated, wanted in zip(seen["validated"], expected, strict=True):
        for got, want in zip(validated, wanted):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, raw in zip(seen["epoch_start"][1], seen["raw"][steps - 1]):  # epoch 2 goes on from the raw weights
        np.testing.assert_array_equal(got, raw)
    assert not all(np.allclose(a, b) for a, b in zip(seen["raw"][-1], expected[-1]))  # the average is not the last step
    for kept, wanted in zip(model.get_weights(), expected[-1]):  # after the last epoch the model holds the average
        np.testing.assert_allclose(kept, wanted, rtol=1e-5, atol=1e-6)


def test_a_training_with_averaging_records_it_and_keeps_a_model_that_denoises(dome_stack, tmp_path):
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.inference import load_denoiser
    from imagej_n2v.training.train import train_model
    from tests.conftest import TINY_TRAINING

    stack = PlaneStack(dome_stack.noisy, dome_stack.axes)
    result = train_model([stack], tmp_path / "averaged", TrainConfig(**{**TINY_TRAINING, "epochs": 2}, average=True),
                         export=False)
    assert json.loads((result.model_folder / "imagej_n2v.json").read_text())["training"]["average"] is True
    assert len(result.history["val_loss"]) == 2 and all(np.isfinite(result.history["val_loss"]))
    denoised = load_denoiser(result.model_folder).denoise(dome_stack.noisy, dome_stack.axes, bit_depth=32)
    assert denoised.shape == dome_stack.noisy.shape and np.isfinite(denoised).all()
