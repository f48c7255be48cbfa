"""Compute precision: parsing, the clear error, and reduced precision checked by its numbers.

Where the machine lacks native bf16 (no avx512_bf16 or AMX, no GPU), users get a clear error;
TensorFlow still emulates bf16 (slowly, with bf16's rounding), so the numeric path is tested
here through the internal ``allow_emulated``. Speed is measured by benchmarks/bench_precision.py.
"""

from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.config import DenoiseConfig, TrainConfig
from imagej_n2v.errors import InputError
from imagej_n2v.precision import (
    CPU_BF16_FLAGS,
    cpu_flags,
    gpu_capabilities,
    keep_ends_float32,
    native_precisions,
    network_precision,
    resolve_precision,
)

from .conftest import DOME_STRIP

REDUCED = ("bf16", "fp16")
NOT_NATIVE = [p for p in REDUCED if p not in native_precisions()]
KERAS_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def _kept(array: np.ndarray) -> np.ndarray:
    """The dome's planes without their zero edge strips (the part that is denoised)."""
    return array[..., DOME_STRIP:-DOME_STRIP]


# --------------------------------------------------------------------------- choosing a precision


@pytest.mark.parametrize("requested", ["fp8", "float32", "", "BF16"])
def test_unknown_precision_is_refused(requested):
    with pytest.raises(InputError, match="fp32, bf16, fp16 or auto"):
        resolve_precision(requested)
    with pytest.raises(InputError, match="precision"):
        TrainConfig(precision=requested)
    with pytest.raises(InputError, match="precision"):
        DenoiseConfig(precision=requested)


def test_native_precisions_follow_the_hardware():
    native = native_precisions()
    assert native[-1] == "fp32" and len(set(native)) == len(native)
    if not gpu_capabilities():
        assert ("bf16" in native) == bool(set(CPU_BF16_FLAGS) & cpu_flags())
        assert "fp16" not in native  # CPUs have no fast fp16 matrix units TensorFlow uses
    assert resolve_precision("auto") == native[0]
    assert resolve_precision("fp32") == "fp32"


@pytest.mark.parametrize("requested", NOT_NATIVE or [pytest.param("bf16", marks=pytest.mark.skip("all native here"))])
def test_precision_the_hardware_lacks_is_a_clear_error(requested):
    with pytest.raises(InputError) as caught:
        resolve_precision(requested)
    message = str(caught.value)
    assert f"cannot run {requested} natively" in message
    assert "fp32" in message and "auto" in message
    assert message.endswith("or auto.") and "\n" not in message
    assert resolve_precision(requested, allow_emulated=True) == requested


@pytest.mark.parametrize("requested", NOT_NATIVE or [pytest.param("bf16", marks=pytest.mark.skip("all native here"))])
def test_cli_refuses_it_before_any_work(tmp_path, capsys, requested):
    image = tmp_path / "plane.tif"
    tifffile.imwrite(image, np.zeros((16, 16), np.uint16))
    assert main(["denoise", str(image), "--model", str(tmp_path / "no-model"), "--precision", requested]) == 2
    assert main(["train", str(image), "--name", "m", "--model-dir", str(tmp_path), "--precision", requested]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(f"cannot run {requested} natively" in line for line in errors)
    assert not (tmp_path / "m").exists()


def test_info_system_says_what_auto_takes(capsys):
    assert main(["info", "--system"]) == 0
    out = capsys.readouterr().out
    assert f"--precision auto takes {native_precisions()[0]}" in out
    assert "native precisions: " + ", ".join(native_precisions()) in out


def test_policy_is_restored_after_building():
    import tensorflow as tf

    with pytest.raises(RuntimeError):
        with network_precision("bf16", allow_emulated=True) as resolved:
            assert resolved == "bf16"
            assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("building failed")
    assert tf.keras.mixed_precision.global_policy().name == "float32"


# --------------------------------------------------------------------------- the network in reduced precision


@pytest.mark.slow
@pytest.mark.parametrize("precision", REDUCED)
def test_first_and_last_layers_compute_in_float32(bf16_model, precision):
    import tensorflow as tf

    from imagej_n2v.model import build_network, describe_model

    with network_precision(precision, allow_emulated=True):
        network = build_network(describe_model(bf16_model))
    keep_ends_float32(network)
    convolutions = [layer for layer in network.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    head = network.layers[: network.layers.index(convolutions[0]) + 1]
    tail = network.layers[network.layers.index(convolutions[-1]):]
    assert all(layer.compute_dtype == "float32" for layer in head + tail)
    assert all(layer.compute_dtype == KERAS_DTYPES[precision] for layer in convolutions[1:-1])
    assert {w.dtype for w in network.weights} == {tf.float32}
    plane = np.zeros((1, 32, 32, 1), np.float32)
    assert network(plane, training=False).dtype == tf.float32


@pytest.mark.slow
@pytest.mark.parametrize("precision", REDUCED)
def test_reduced_precision_stays_within_a_tenth_of_the_noise(quality_model, dome_stack, precision):
    """Same well-trained weights: the 99th percentile of |reduced - fp32| below 10% of the noise sd."""
    from imagej_n2v.inference import Denoiser
    from imagej_n2v.model import describe_model

    description = describe_model(quality_model)
    exact = Denoiser(description, "fp32").denoise(dome_stack.noisy, dome_stack.axes)
    reduced_denoiser = Denoiser(description, precision, allow_emulated=True)
    assert reduced_denoiser.precision == precision
    reduced = reduced_denoiser.denoise(dome_stack.noisy, dome_stack.axes)
    difference = np.abs(_kept(reduced).astype(np.float64) - _kept(exact))
    noise_sd = float(np.std(_kept(dome_stack.noisy).astype(np.float64) - _kept(dome_stack.clean)))
    assert difference.max() > 0, f"{precision} gave fp32's result exactly: the policy was not applied"
    assert np.percentile(difference, 99) < 0.1 * noise_sd
    assert np.array_equal(reduced[..., :DOME_STRIP], exact[..., :DOME_STRIP])  # zero strips stay zero


# --------------------------------------------------------------------------- a model trained in bf16


@pytest.mark.slow
def test_bf16_model_records_its_precision(bf16_model):
    from imagej_n2v.model import describe_model, info_lines

    metadata = json.loads((bf16_model / "imagej_n2v.json").read_text())
    assert metadata["training"]["precision"] == "bf16"
    with open(bf16_model / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {row["precision"] for row in rows} == {"bf16"}
    assert any("precision bf16" in line for line in info_lines(describe_model(bf16_model)))


@pytest.mark.slow
def test_bf16_model_keeps_float32_on_disk(bf16_model):
    import h5py

    dtypes: set[str] = set()
    with h5py.File(bf16_model / "weights_best.h5") as weights:
        weights.visititems(lambda _, item: dtypes.add(str(item.dtype)) if isinstance(item, h5py.Dataset) else None)
    assert dtypes == {"float32"}
    # the archive's SavedModel is the float32 network (what deepImageJ and bioimage.io tools run)
    with zipfile.ZipFile(bf16_model / "bf16.bioimage.io.zip") as archive, \
            zipfile.ZipFile(archive.open("tf_model.zip")) as saved_model:
        graph = b"".join(saved_model.read(name) for name in saved_model.namelist() if name.endswith(".pb"))
    assert b"float32" in graph and b"bfloat16" not in graph


@pytest.mark.slow
def test_bf16_model_runs_in_fp32_and_in_n2v(bf16_model, dome_stack):
    import contextlib
    import io

    from n2v.models import N2V

    from imagej_n2v.inference import Denoiser
    from imagej_n2v.model import describe_model

    planes = _kept(dome_stack.noisy[0])  # ZYX
    ours = Denoiser(describe_model(bf16_model), "fp32").denoise(planes, "ZYX", bit_depth=32)
    assert np.isfinite(ours).all() and not np.allclose(ours, planes)
    from_archive = Denoiser(describe_model(bf16_model / "bf16.bioimage.io.zip"), "fp32")
    assert np.abs(from_archive.denoise(planes, "ZYX", bit_depth=32) - ours).max() < 0.05

    with contextlib.redirect_stdout(io.StringIO()):
        model = N2V(config=None, name=bf16_model.name, basedir=str(bf16_model.parent))
        theirs = model.predict(planes[0].astype(np.float32), axes="YX")
    assert {layer.compute_dtype for layer in model.keras_model.layers} == {"float32"}
    assert theirs.shape == planes[0].shape and np.isfinite(theirs).all()


@pytest.mark.slow
def test_denoised_tiff_records_the_precision(bf16_model, dome_stack, tmp_path):
    from imagej_n2v.inference import Denoiser
    from imagej_n2v.model import describe_model
    from imagej_n2v.stack import PlaneStack
    from imagej_n2v.tiff_io import Calibration, output_shape, write_planes

    stack = PlaneStack(dome_stack.noisy, dome_stack.axes)
    for precision in ("fp32", "bf16"):
        denoiser = Denoiser(describe_model(bf16_model), precision, allow_emulated=True)
        target = write_planes(tmp_path / f"{precision}.tif", denoiser.denoise_planes(stack), stack.axes,
                              output_shape(stack, stack.axes), "uint16", Calibration(), info=denoiser.provenance())
        info = tifffile.TiffFile(target).imagej_metadata["Info"]
        assert info.endswith(f"denoised with bf16, precision {precision}")


@pytest.mark.slow
def test_cli_writes_the_precision_into_the_tiff(quality_model, input_files, tmp_path):
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(quality_model),
                 "--precision", "auto", "--output", str(tmp_path)]) == 0
    with tifffile.TiffFile(tmp_path / "dome_denoised.tif") as written:
        assert written.imagej_metadata["Info"].endswith(f"precision {native_precisions()[0]}")
