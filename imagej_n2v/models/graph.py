"""The whole denoiser as TensorFlow operations, so that an exported network needs no pre- or postprocessing.

bioimage.io runners (bioimageio.core, deepImageJ, napari) apply the archive's declared steps and
the network. Their vocabulary has per-sample ``zero_mean_unit_variance`` but neither the robust
statistics of a plane's data area nor a step back to the input's units, so a model that declares
n2v's one global mean and spread gives a 10x dimmer plane a result worse than its noisy input
(measured in issue 26: 17.5 dB from 29.7 dB, the mean +73 %). The exported network therefore
does what ``denoising.inference.Denoiser`` does, plane by plane, in the same order and precision:

1. the kept columns: zero columns at the left and right edge are no data and stay zero; an
   all-zero plane comes back unchanged (``data.planes.kept_columns``);
2. the plane's robust mean and spread: values clipped to the 0.1 and 99.9 percentiles, which
   are taken exactly as np.percentile's linear ones, from the sorted kept area (in float64, as
   ``data.planes.plane_normalization``); a constant plane falls back to a spread of 1;
3. reflect padding to a multiple of the U-Net's ``2**depth`` (csbdeep's split), the U-Net, the crop;
4. the mean correction (the output's mean set to the normalised input's) and the map back to
   the plane's units.

The layer holds only the U-Net's weights: a model folder's network is rebuilt from n2v's
configuration and these weights are read as data (``load_unet_weights``), never as code.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from ..data.planes import CLIP_PERCENTILES

INPUT_NAME = "input"
OUTPUT_NAME = "output"
"""The names of the network's tensors: the keys of its serving signature and of the archive's rdf.yaml."""


class PlaneDenoiser(tf.keras.layers.Layer):
    """Denoises a batch (B, Y, X, 1) of planes in their own units, each plane on its own."""

    def __init__(self, unet: tf.keras.Model, div_by: int, **kwargs):
        super().__init__(**kwargs)
        self.unet = unet
        self.div_by = int(div_by)

    def call(self, planes: tf.Tensor) -> tf.Tensor:
        denoised = tf.map_fn(self._plane, planes[..., 0], fn_output_signature=tf.float32)
        return denoised[..., tf.newaxis]

    def _plane(self, plane: tf.Tensor) -> tf.Tensor:
        columns = tf.where(tf.reduce_any(plane != 0, axis=0))[:, 0]
        return tf.cond(tf.size(columns) > 0, lambda: self._denoise(plane, columns), lambda: plane)

    def _denoise(self, plane: tf.Tensor, columns: tf.Tensor) -> tf.Tensor:
        first, last = columns[0], columns[-1] + 1
        kept = plane[:, first:last]
        mean, std = _robust_statistics(kept)
        data = (kept - tf.cast(mean, tf.float32)) * tf.cast(1.0 / std, tf.float32)
        shape = tf.shape(data)
        pad = (-shape) % self.div_by
        before = pad // 2
        padded = tf.pad(data, tf.stack([before, pad - before], axis=1), mode="REFLECT")
        predicted = self.unet(padded[tf.newaxis, ..., tf.newaxis], training=False)[0, ..., 0]
        crop = predicted[before[0] : before[0] + shape[0], before[1] : before[1] + shape[1]]
        crop += tf.reduce_mean(data) - tf.reduce_mean(crop)
        result = crop * tf.cast(std, tf.float32) + tf.cast(mean, tf.float32)
        width = tf.shape(plane, out_type=tf.int64)[1]
        return tf.pad(result, [[0, 0], [first, width - last]])


def _robust_statistics(kept: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and standard deviation (float64) of ``kept`` clipped to its percentiles, as ``plane_normalization``."""
    values = tf.sort(tf.reshape(tf.cast(kept, tf.float64), [-1]))
    count = tf.size(values)
    low, high = (_percentile(values, count, q) for q in CLIP_PERCENTILES)
    clipped = tf.clip_by_value(values, low, high)
    mean = tf.reduce_mean(clipped)
    std = tf.sqrt(tf.reduce_mean(tf.square(clipped - mean)))
    spread = tf.math.reduce_std(values)
    usable = tf.math.is_finite(std) & (std > 0)
    return mean, tf.where(usable, std, tf.maximum(spread, 1.0))


def _percentile(ordered: tf.Tensor, count: tf.Tensor, q: float) -> tf.Tensor:
    """np.percentile (method 'linear') of the sorted ``ordered``."""
    position = q / 100 * tf.cast(count - 1, tf.float64)
    below = tf.floor(position)
    lower_index = tf.cast(below, tf.int32)
    upper_index = tf.minimum(lower_index + 1, count - 1)
    lower, upper = tf.gather(ordered, lower_index), tf.gather(ordered, upper_index)
    return lower + (position - below) * (upper - lower)


def whole_denoiser(unet: tf.keras.Model, div_by: int) -> tf.keras.Model:
    """A Keras model taking planes in their own units (B, Y, X, 1) and giving them back denoised."""
    planes = tf.keras.Input((None, None, 1), name=INPUT_NAME)
    return tf.keras.Model(planes, PlaneDenoiser(unet, div_by, name=OUTPUT_NAME)(planes), name="imagej_n2v_denoiser")


def load_unet_weights(unet: tf.keras.Model, div_by: int, saved_model: Path) -> None:
    """Read the weights of an exported SavedModel into ``unet``, as data (nothing in the archive runs).

    Our archives hold a ``whole_denoiser`` around the U-Net, n2v's the bare U-Net: the first
    whose structure covers every weight of ``unet`` is taken; AssertionError when neither does.
    """
    prefix = str(saved_model / "variables" / "variables")
    try:
        whole_denoiser(unet, div_by).load_weights(prefix).assert_existing_objects_matched()
    except (AssertionError, ValueError):
        unet.load_weights(prefix).assert_existing_objects_matched()
