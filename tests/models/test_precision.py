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
from imagej_n2v.models.precision import (
    keep_ends_float32,
    native_precisions,
    network_precision,
    resolve_precision,
)
from tests.conftest import DOME_STRIP

REDUCED = ("bf16", "fp16")
KERAS_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}

PLAIN_CPU = ([], frozenset({"avx2", "avx512f"}))
BF16_CPU = ([], frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
VOLTA = ([("Tesla V100", (7, 0))], frozenset())
AMPERE = ([("NVIDIA A100", (8, 0)), ("Tesla V100", (7, 0))], frozenset())


@pytest.fixture
def hardware(monkeypatch):
    """Make this machine look like another: ``hardware(gpus, cpu_flags)`` fakes what is detected.

    Only the two look-ups of the hardware are replaced (``gpu_capabilities``, ``cpu_flags``);
    everything built on them runs as it is, so tests give the same verdict on every machine.
    """
    from imagej_n2v.models import precision

    def fake(gpus: list, flags: frozenset[str]) -> None:
        monkeypatch.setattr(precision, "gpu_capabilities", lambda: gpus)
        monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
        native_precisions.cache_clear()

    yield fake
    native_precisions.cache_clear()


def _kept(array: np.ndarray) -> np.ndarray:
    """The dome's planes without their zero edge strips (the part that is denoised)."""
    return array[..., DOME_STRIP:-DOME_STRIP]


# --------------------------------------------------------------------------- choosing a precision


@pytest.mark.parametrize("requested", ["fp8", "float32", ""])
def test_unknown_precision_is_refused(requested):
    with pytest.raises(InputError, match="fp32, bf16, fp16 or auto"):
        resolve_precision(requested)
    with pytest.raises(InputError, match="precision"):
        TrainConfig(precision=requested)
    with pytest.raises(InputError, match="precision"):
        DenoiseConfig(precision=requested)


def test_settings_take_a_precision_in_any_case():
    assert TrainConfig(precision="BF16").precision == "bf16"
    assert DenoiseConfig(precision=" Auto ").precision == "auto"


@pytest.mark.parametrize(("machine", "native", "auto"), [
    (PLAIN_CPU, ("fp32",), "fp32"),
    (BF16_CPU, ("bf16", "fp32"), "bf16"),
    (([], frozenset({"amx_bf16"})), ("bf16", "fp32"), "bf16"),
    (([("GTX 1080", (6, 1))], BF16_CPU[1]), ("fp32",), "fp32"),  # TensorFlow computes on the GPU, not the CPU
    (VOLTA, ("fp16", "fp32"), "fp16"),
    (AMPERE, ("bf16", "fp16", "fp32"), "bf16"),  # the first GPU counts
], ids=["plain-cpu", "bf16-cpu", "amx-cpu", "pascal", "volta", "ampere"])
def test_native_precisions_follow_the_hardware(hardware, machine, native, auto):
    hardware(*machine)
    assert native_precisions() == native
    assert resolve_precision("auto") == auto
    assert resolve_precision("fp32") == "fp32"


@pytest.mark.parametrize(("machine", "lacking", "summary"), [
    (PLAIN_CPU, "bf16", "a CPU without avx512_bf16 or AMX, and no GPU; native: fp32"),
    (PLAIN_CPU, "fp16", "a CPU without avx512_bf16 or AMX, and no GPU; native: fp32"),
    (BF16_CPU, "fp16", "a CPU with amx_bf16 and avx512_bf16, and no GPU; native: bf16, fp32"),
    (VOLTA, "bf16", "GPU Tesla V100 with compute capability 7.0; native: fp16, fp32"),
])
def test_precision_the_hardware_lacks_is_a_clear_error(hardware, machine, lacking, summary):
    hardware(*machine)
    with pytest.raises(InputError) as caught:
        resolve_precision(lacking)
    message = str(caught.value)
    assert message.startswith(f"This machine cannot run {lacking} natively ({summary}): choose precision ")
    assert message.endswith("or auto.") and "\n" not in message
    assert resolve_precision(lacking, allow_emulated=True) == lacking


@pytest.mark.parametrize("requested", REDUCED)
def test_cli_refuses_it_before_any_work(hardware, tmp_path, capsys, requested):
    hardware(*PLAIN_CPU)
    image = tmp_path / "plane.tif"
    tifffile.imwrite(image, np.zeros((16, 16), np.uint16))
    assert main(["denoise", str(image), "--model", str(tmp_path / "no-model"), "--precision", requested]) == 2
    assert main(["train", str(image), "--name", "m", "--model-dir", str(tmp_path), "--precision", requested]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(f"cannot run {requested} natively" in line for line in errors)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("machine", "lines"), [
    (PLAIN_CPU, ["GPUs seen by TensorFlow: none (the CPU is used)", "CPU bf16 instructions: none",
                 "native precisions: fp32; --precision auto takes fp32 (reduced precision would only be emulated here, slower)"]),
    (BF16_CPU, ["GPUs seen by TensorFlow: none (the CPU is used)", "CPU bf16 instructions: amx_bf16, avx512_bf16",
                "native precisions: bf16, fp32; --precision auto takes bf16"]),
    (AMPERE, ["GPUs seen by TensorFlow: NVIDIA A100 (compute capability 8.0), Tesla V100 (compute capability 7.0)",
              "native precisions: bf16, fp16, fp32; --precision auto takes bf16"]),
], ids=["plain-cpu", "bf16-cpu", "ampere"])
def test_info_system_says_what_auto_takes(hardware, capsys, machine, lines):
    hardware(*machine)
    assert main(["info", "--system"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line in out for line in lines), out


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

    from imagej_n2v.models.folder import build_network, describe_model

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
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model

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
    from imagej_n2v.info import model_lines
    from imagej_n2v.models.folder import describe_model

    metadata = json.loads((bf16_model / "imagej_n2v.json").read_text())
    assert metadata["training"]["precision"] == "bf16"
    with open(bf16_model / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {row["precision"] for row in rows} == {"bf16"}
    assert any("precision bf16" in line for line in model_lines(describe_model(bf16_model)))


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

    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model

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
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.data.tiff_io import Calibration, output_shape, write_planes
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model

    stack = PlaneStack(dome_stack.noisy, dome_stack.axes)
    for precision in ("fp32", "bf16"):
        denoiser = Denoiser(describe_model(bf16_model), precision, allow_emulated=True)
        target = write_planes(tmp_path / f"{precision}.tif", denoiser.denoise_planes(stack), stack.axes,
                              output_shape(stack, stack.axes), "uint16", Calibration(), info=denoiser.provenance())
        info = tifffile.TiffFile(target).imagej_metadata["Info"]
        assert info.endswith(f"denoised with bf16, precision {precision}")


@pytest.mark.slow
@pytest.mark.parametrize(("machine", "auto"), [(PLAIN_CPU, "fp32"), (BF16_CPU, "bf16")], ids=["plain-cpu", "bf16-cpu"])
def test_cli_writes_the_precision_into_the_tiff(hardware, tiny_model, input_files, tmp_path, machine, auto):
    """``--precision auto`` takes what the hardware offers, and the output says which it was.

    Where bf16 is only faked, TensorFlow emulates it: slow, but the tiny model makes that seconds.
    """
    hardware(*machine)
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tiny_model),
                 "--precision", "auto", "--output", str(tmp_path)]) == 0
    with tifffile.TiffFile(tmp_path / "dome_denoised.tif") as written:
        assert written.imagej_metadata["Info"].endswith(f"precision {auto}")
