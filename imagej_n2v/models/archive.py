"""A trained model's bioimage.io archive: the whole denoiser, so every runner gives our result.

The archive's network is ``graph.whole_denoiser``: it takes planes in their own units and gives
them back denoised, with the per-plane normalisation, the mean correction and the way back
inside, so the rdf.yaml declares no pre- or postprocessing that a runner could apply otherwise.
Beside it lie n2v's config.json and our imagej_n2v.json, from which imagej-n2v rebuilds the
U-Net and reads its weights as data. The test input is a real plane of the training data and
the test output what this network gives for it (``bioimageio test-model`` checks it).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .folder import ARCHIVE_SUFFIX, METADATA_FILE

SPEC_NOTE = (
    "model spec 0.4 (bioimageio.core 0.5): the newest that runs beside TensorFlow 2.15, see the README"
)

DOCUMENTATION = """# {name}

A Noise2Void{algorithm} model trained with imagej-n2v. The network is the whole denoiser: it
takes 2D single-channel planes in their own units (any size; float32) and gives them back
denoised, in the same units. It needs no pre- or postprocessing; the rdf declares none.

Inside the TensorFlow SavedModel, each plane, on its own:

1. columns of zeros at the left and right edge are no data: they stay zero, and a plane that is
   zero everywhere comes back unchanged;
2. the plane's kept area is normalised by its own mean and standard deviation, taken on values
   clipped to their 0.1 and 99.9 percentiles (a dim channel or a bleached frame is seen at the
   scale it was trained at);
3. it is reflect-padded to a multiple of {div_by}, denoised by the U-Net and cropped;
4. the output's mean is set to the normalised input's (short trainings leave a global offset),
   and the plane is mapped back to its own units.

This is what `imagej-n2v denoise` does with its default settings. What differs:

- the statistics are those of whatever the runner passes: run it on whole planes. A tool that
  cuts a plane into tiles (deepImageJ's tiling, for example) normalises each tile on its own;
  choose a tile as large as the plane (imagej-n2v tiles planes too large for memory itself,
  keeping the whole plane's statistics);
- `imagej-n2v denoise --keep-zero-columns` (denoise the zero edge columns too) and `--tta`
  (average over flips and turns) have no counterpart here: the archive keeps the zero columns
  zero and runs the network once;
- 16-bit output: imagej-n2v rounds and clips the float result to 0..65535 (and says how many
  pixels were clipped); the archive gives float32.

The per-plane statistics are exact (np.percentile's linear percentiles, from the sorted plane),
so a bioimage.io runner and imagej-n2v agree to within 0.001 grey levels on a 16-bit plane
(without the clipping they would differ by about 3).

## Validation

`bioimageio test-model` (bioimageio.core 0.5.11) reproduces the test output from the test input,
a whole plane of the training data; imagej-n2v's tests check bioimageio.core's prediction against
`imagej-n2v denoise` on bright, 10x dimmer and offset planes (within one grey level).

## Cite
{cite}
"""


def export_archive(model, folder: Path, name: str, test_image: np.ndarray) -> Path:
    """Write ``NAME.bioimage.io.zip`` into ``folder``; returns its path.

    ``model`` is the trained n2v model (float32, as loaded from ``folder``); ``test_image``
    (YX, raw units) is the archive's test input: a real plane of the training data.
    """
    import tensorflow as tf
    from n2v.utils.export_utils import get_algorithm_details, which_algorithm

    from .graph import INPUT_NAME, OUTPUT_NAME, whole_denoiser

    div_by = 2 ** int(model.config.unet_n_depth)
    network = whole_denoiser(model.keras_model, div_by)
    algorithm = which_algorithm(model.config)
    cite = get_algorithm_details(algorithm)
    archive = folder / (name + ARCHIVE_SUFFIX)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder) as work, \
            contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras on the untraced layer config; bioimageio on the web tag checks
        work = Path(work)
        test_input = test_image.astype(np.float32)[np.newaxis, ..., np.newaxis]
        np.save(work / "test_input.npy", test_input)
        np.save(work / "test_output.npy", network(test_input).numpy())
        network.save(work / "tf_model", save_format="tf", include_optimizer=False)
        _zip_folder(work / "tf_model", work / "tf_model.zip")
        shutil.copy(folder / "config.json", work / "config.json")
        shutil.copy(folder / METADATA_FILE, work / METADATA_FILE)
        documentation = work / "README.md"
        algorithm_name = {"N2V2": " (N2V2)", "structN2V": " (structN2V)"}.get(algorithm.get_name(algorithm.value), "")
        documentation.write_text(DOCUMENTATION.format(name=name, algorithm=algorithm_name, div_by=div_by,
                                                      cite=cite[0]["text"]))
        _build(work, archive, name, algorithm.get_name(algorithm.value), cite, div_by, INPUT_NAME, OUTPUT_NAME,
               tf.__version__)
    return archive


def _build(work: Path, archive: Path, name: str, algorithm: str, cite: list, div_by: int,
           input_name: str, output_name: str, tf_version: str) -> None:
    from bioimageio.core.build_spec import build_model

    build_model(
        root=work,
        weight_uri=str(work / "tf_model.zip"),
        weight_type="tensorflow_saved_model_bundle",
        tensorflow_version=tf_version,
        test_inputs=[str(work / "test_input.npy")],
        test_outputs=[str(work / "test_output.npy")],
        input_names=[input_name],
        output_names=[output_name],
        input_axes=["byxc"],
        output_axes=["byxc"],
        input_min_shape=[[1, div_by, div_by, 1]],
        input_step=[[0, 1, 1, 0]],
        output_reference=[input_name],
        output_scale=[[1, 1, 1, 1]],
        output_offset=[[0, 0, 0, 0]],
        halo=[[0, 0, 0, 0]],
        name=name,
        description=("Noise2Void denoiser for 2D single-channel planes in their own units; per-plane robust "
                     "normalisation, mean correction and the way back are inside the network (no pre- or "
                     "postprocessing). Run it on whole planes, not tiles."),
        authors=[{"name": "imagej-n2v"}],
        license="BSD-3-Clause",
        documentation=str(work / "README.md"),
        tags=["2d", "unet", "denoising", algorithm, "tensorflow", "imagej-n2v", "whole-plane"],
        cite=cite,
        attachments={"files": [str(work / "config.json"), str(work / METADATA_FILE)]},
        config={"imagej_n2v": {"normalization": "inside the network, per plane", "spec": SPEC_NOTE}},
        output_path=str(archive),
    )


def _zip_folder(source: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            zf.write(path, path.relative_to(source))
