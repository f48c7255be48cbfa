"""N2V model folders and bioimage.io archives: loading, describing, and our additions.

A model stays in n2v's own folder layout (``config.json`` and ``weights_*.h5``), so the seed's
``N2V(config=None, name, basedir)`` loads it. Beside n2v's files we keep ``imagej_n2v.json``
(how the planes were normalised, which channels, the training settings and data summary),
``history.csv`` and ``loss.png``. A folder without ``imagej_n2v.json`` was written by n2v
itself and keeps n2v's own global normalisation, so it gives n2v's own results.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import ModelError

log = logging.getLogger(__name__)

METADATA_FILE = "imagej_n2v.json"
ARCHIVE_SUFFIX = ".bioimage.io.zip"
PER_PLANE = "per-plane"
PER_VOLUME = "per-volume"  # 3D models: each (frame, channel) z-stack by its own statistics
N2V_GLOBAL = "n2v"
MAX_ARCHIVE_BYTES = 2 * 1024**3
"""Uncompressed size above which an archive is refused (a U-Net is tens of MB; this stops zip bombs)."""


@dataclass
class ModelDescription:
    """What a model folder says about itself, readable without TensorFlow."""

    folder: Path
    config: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  # the archive it came from, if any

    @property
    def normalization(self) -> str:
        return self.metadata.get("normalization", N2V_GLOBAL)

    @property
    def axes(self) -> str:
        return str(self.config.get("axes", "YXC")).replace("C", "")

    @property
    def three_d(self) -> bool:
        """A 3D model: it denoises ZYX volumes, not planes."""
        return self.axes in ("ZYX", "ZXY")

    @property
    def n_channels(self) -> int:
        return int(self.config.get("n_channel_in", 1))

    @property
    def global_mean(self) -> float:
        return float(self.config["means"][0])

    @property
    def global_std(self) -> float:
        return float(self.config["stds"][0])

    @property
    def depth(self) -> int:
        return int(self.config.get("unet_n_depth", 2))

    @property
    def kernel(self) -> int:
        return int(self.config.get("unet_kern_size", 5))

    @property
    def first_filters(self) -> int:
        return int(self.config.get("unet_n_first", 32))

    @property
    def blurpool(self) -> bool:
        """N2V2's max-blur pooling (it widens what the network sees)."""
        return bool(self.config.get("blurpool", False))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}): the model folder is damaged; train it again.") from None


def describe_model(path: str | os.PathLike) -> ModelDescription:
    """Read a model folder (or an n2v bioimage.io archive) without building the network."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"The model {path} does not exist: give an n2v model folder or a bioimage.io zip.")
    if path.is_file():
        folder = extract_archive(path)
        description = describe_model(folder)
        description.source = path
        _apply_declared_normalization(description, path)
        return description
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelError(f"{path} has no config.json: it is not an n2v model folder (or it is incomplete).")
    metadata_file = path / METADATA_FILE
    metadata = _read_json(metadata_file) if metadata_file.is_file() else {}
    if metadata.get("incomplete"):
        log.warning("The model %s is marked incomplete (training was interrupted); its best weights so far are used.", path)
    return ModelDescription(path, _read_json(config_file), metadata)


def weights_file(folder: Path) -> Path | None:
    """n2v's preference: the best weights, else the newest of the others."""
    best = folder / "weights_best.h5"
    if best.is_file():
        return best
    others = sorted(folder.glob("weights_*.h5"), key=lambda p: p.stat().st_mtime, reverse=True)
    return others[0] if others else None


def _archive_cache_root() -> Path:
    """The folder of unpacked archives: this user's own, so nobody else can plant a model there.

    A model found in the cache is trusted as unpacked by us, so a root that another user owns
    or may write to (a shared /tmp folder, a symbolic link) is refused.
    """
    default = Path(tempfile.gettempdir()) / f"imagej-n2v-models-{os.getuid()}"
    root = Path(os.environ.get("IMAGEJ_N2V_CACHE", default))
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(root)
    except OSError as exc:
        raise ModelError(f"The model cache {root} cannot be created ({exc.strerror}): set IMAGEJ_N2V_CACHE to a writable folder.") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ModelError(
            f"The model cache {root} is not a private folder of yours (a link, another owner, or writable by others): "
            f"remove it or set IMAGEJ_N2V_CACHE to a folder only you can write."
        )
    return root


def _check_member(archive: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        raise ModelError(f"{archive} contains the unsafe path '{name}': it was not made by n2v; refuse to open it.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ModelError(f"{archive} contains a symbolic link '{name}': it was not made by n2v; refuse to open it.")


def safe_extract(archive: Path, target: Path) -> None:
    """Extract ``archive`` into ``target``, refusing unsafe paths, links and oversized content."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_ARCHIVE_BYTES:
                raise ModelError(
                    f"{archive} would unpack to {total / 1024**3:.1f} GB, more than a model needs: refuse to open it."
                )
            for member in members:
                _check_member(archive, member)
            for member in members:
                zf.extract(member, target)
    except zipfile.BadZipFile:
        raise ModelError(f"{archive} is not a valid zip archive: export the model again.") from None


def extract_archive(archive: Path) -> Path:
    """Unpack an n2v bioimage.io zip once (cached by content) and return an n2v model folder.

    n2v's archive holds config.json and the network as a zipped TensorFlow SavedModel.
    """
    digest = hashlib.sha256()
    with open(archive, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    folder = _archive_cache_root() / digest.hexdigest()[:16]
    if (folder / ".complete").is_file():
        return folder
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder.parent))
    try:
        safe_extract(archive, staging)
        inner = staging / _weights_member(staging)
        if not (staging / "config.json").is_file() or not inner.is_file():
            raise ModelError(
                f"{archive} lacks n2v's config.json or TensorFlow weights: imagej-n2v opens N2V archives with "
                f"TensorFlow SavedModel weights (as n2v, napari-n2v and imagej-n2v export them)."
            )
        safe_extract(inner, staging / "tf_model")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / ".complete").touch()
    with contextlib.suppress(OSError):
        staging.rename(folder)
    return folder if (folder / ".complete").is_file() else staging


def _apply_declared_normalization(description: ModelDescription, archive: Path) -> None:
    """Denoise an archive with the normalisation its rdf.yaml declares, or refuse it.

    Ours declare none (the network holds it, and ``imagej_n2v.json`` says per-plane); n2v's and
    napari-n2v's declare a fixed ``zero_mean_unit_variance`` and ``scale_linear`` back with the
    same numbers: n2v's global scheme, whose numbers the rdf gives. An archive written by
    imagej-n2v before the network held the normalisation declares that global scheme too, but its
    U-Net was trained per plane: its ``imagej_n2v.json`` is the truth. Anything else would give
    another result than the archive's other runners, so it is refused.
    """
    rdf_file = description.folder / "rdf.yaml"
    if not rdf_file.is_file():
        return
    import yaml

    try:
        rdf = yaml.safe_load(rdf_file.read_text())
        pre = [(p["name"], p.get("kwargs", {})) for p in rdf["inputs"][0].get("preprocessing") or []]
        post = [(p["name"], p.get("kwargs", {})) for p in rdf["outputs"][0].get("postprocessing") or []]
    except (OSError, ValueError, yaml.YAMLError, KeyError, IndexError, TypeError, AttributeError):
        raise ModelError(f"{archive} has an unreadable rdf.yaml: it is damaged; export the model again.") from None
    if description.normalization == PER_PLANE:
        return
    if [n for n, _ in pre] == ["zero_mean_unit_variance"] and [n for n, _ in post] == ["scale_linear"]:
        (_, zmuv), (_, linear) = pre[0], post[0]
        try:
            mean, std = _single(zmuv["mean"]), _single(zmuv["std"])
            fixed = zmuv.get("mode") == "fixed" and _single(linear["gain"]) == std and _single(linear["offset"]) == mean
        except (KeyError, TypeError, ValueError):
            fixed = False
        if fixed:
            description.config = {**description.config, "means": [str(mean)], "stds": [str(std)]}
            return
    steps = ", ".join(n for n, _ in pre + post) or "none"
    raise ModelError(
        f"{archive} declares the pre- and postprocessing '{steps}', which imagej-n2v does not apply "
        f"(it applies n2v's fixed mean and spread, or its own per-plane one): run it with bioimageio.core or deepImageJ."
    )


def _single(value) -> float:
    """One number, as rdf.yaml writes it (a number or a list of one)."""
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(value)
        value = value[0]
    return float(value)


def _weights_member(staging: Path) -> str:
    """The zipped SavedModel that an unpacked archive's rdf.yaml names (n2v's name, tf_model.zip, without one)."""
    import yaml

    try:
        rdf = yaml.safe_load((staging / "rdf.yaml").read_text())
        source = rdf["weights"]["tensorflow_saved_model_bundle"]["source"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "tf_model.zip"
    parts = Path(str(source)).parts
    return str(source) if parts and ".." not in parts and not Path(str(source)).is_absolute() else "tf_model.zip"


def _check_weights_file(weights: Path) -> None:
    import h5py

    try:
        h5py.File(weights, "r").close()
    except OSError as exc:
        raise ModelError(
            f"The weights file {weights} is damaged ({str(exc).split('(')[0].strip()}): copy the model again or retrain it."
        ) from None


def build_network(description: ModelDescription):
    """The Keras network of a model, with its trained weights loaded.

    Imports TensorFlow and n2v; call ``versions.check_environment()`` first.
    """
    folder = description.folder
    saved_model = folder / "tf_model"
    weights = weights_file(folder)
    if weights is None and not saved_model.is_dir():
        raise ModelError(f"{folder} has no weights (weights_best.h5): training did not finish; train it again.")
    from n2v.models import N2V

    if weights is not None:
        _check_weights_file(weights)  # n2v loads them while building, and would blame config.json
    try:
        with contextlib.redirect_stdout(io.StringIO()), _quiet_warnings():
            n2v_model = N2V(config=None, name=folder.name, basedir=str(folder.parent))
    except Exception as exc:
        raise ModelError(f"{folder}/config.json is not a valid n2v configuration ({exc}): train the model again.") from None
    try:
        if weights is not None:
            n2v_model.keras_model.load_weights(str(weights))
        else:
            from .graph import load_unet_weights

            load_unet_weights(n2v_model.keras_model, 2**description.depth, saved_model)
    except Exception as exc:
        source = weights or saved_model
        raise ModelError(f"The weights in {source} cannot be loaded ({type(exc).__name__}): the file is damaged; train or export the model again.") from None
    return n2v_model.keras_model


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    """Write ``imagej_n2v.json`` (atomically: a reader never sees half a file)."""
    write_text(folder / METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True))
