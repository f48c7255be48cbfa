"""A trained model's bioimage.io archive, as n2v exports it, named after the model and with our metadata inside."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .folder import ARCHIVE_SUFFIX, METADATA_FILE


def export_archive(model, folder: Path, name: str, test_image: np.ndarray) -> Path:
    """Write ``NAME.bioimage.io.zip`` into ``folder`` with n2v's ``export_TF``; returns its path.

    ``model`` is the trained n2v model; ``test_image`` (YX, raw units) is the archive's test input.
    """
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bioimageio tries to reach the web for tag checks
        model.export_TF(
            name=name,
            description="Noise2Void model trained plane by plane with imagej-n2v",
            authors=["imagej-n2v"],
            test_img=test_image[..., np.newaxis],
            axes="YXC",
            patch_shape=test_image.shape,
        )
    (exported,) = folder.glob("*" + ARCHIVE_SUFFIX)
    archive = folder / (name + ARCHIVE_SUFFIX)
    os.replace(exported, archive)
    # n2v leaves the SavedModel it zipped into the archive beside it: the archive is the copy to keep.
    shutil.rmtree(folder / "tf_model", ignore_errors=True)
    (folder / "tf_model.zip").unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.write(folder / METADATA_FILE, METADATA_FILE)
    return archive
