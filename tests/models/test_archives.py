"""Model archives are opened without trusting them (issue #5).

Crafted zips try to write outside the extraction folder (absolute paths, ``..``, drive
letters, symbolic links), to unpack to more than a model can need (declared sizes, a highly
compressible bomb, sizes that lie), and the extraction cache is checked for planted models.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from imagej_n2v.errors import ModelError
from imagej_n2v.models import folder as model_module
from imagej_n2v.models.folder import describe_model, extract_archive, safe_extract


def make_zip(path: Path, members: list[tuple[str, bytes]], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def n2v_like(path: Path, extra: list[tuple[str, bytes]] = (), links: tuple[str, ...] = ()) -> Path:
    """The layout of n2v's export (config.json, tf_model.zip) plus the given members."""
    inner = make_zip(path.with_suffix(".inner"), [("saved_model.pb", b"x")])
    return make_zip(path, [("config.json", b"{}"), ("tf_model.zip", inner.read_bytes()), *extra], links)


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("IMAGEJ_N2V_CACHE", str(root))
    return root


@pytest.mark.parametrize("name", ["/tmp/evil.txt", "../evil.txt", "tf_model/../../evil.txt", "C:/evil.txt", "\\evil.txt"])
def test_paths_outside_the_folder_are_refused_before_anything_is_written(tmp_path, name):
    archive = n2v_like(tmp_path / "bad.zip", [("a_first.txt", b"harmless"), (name, b"evil")])
    target = tmp_path / "out" / "deep"
    target.mkdir(parents=True)
    with pytest.raises(ModelError, match=f"{archive} contains the unsafe path '.*evil.txt'.*refuse to open it"):
        safe_extract(archive, target)
    assert everything_under(tmp_path / "out") == ["deep"]
    assert not (tmp_path / "evil.txt").exists()


def test_symbolic_links_are_refused(tmp_path):
    archive = n2v_like(tmp_path / "link.zip", links=("tf_model",))
    with pytest.raises(ModelError, match="contains a symbolic link 'tf_model'"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _declare_size(archive: Path, member: str, size: int) -> None:
    """Rewrite the uncompressed size a zip declares for ``member`` (local and central headers)."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    data = bytearray(archive.read_bytes())
    assert data[info.header_offset : info.header_offset + 4] == b"PK\x03\x04"
    data[info.header_offset + 22 : info.header_offset + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    while True:  # find the central record of this member
        name_length = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + name_length].decode() == member:
            break
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_declared_size_over_the_limit_is_refused_unread(tmp_path):
    archive = n2v_like(tmp_path / "bomb.zip", [("weights.bin", bytes(1 << 20))])
    _declare_size(archive, "weights.bin", 3 * 1024**3)
    assert archive.stat().st_size < 10_000
    with pytest.raises(ModelError, match=r"would unpack to 3\.0 GB, more than a model needs"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_highly_compressible_bomb_is_refused(tmp_path, monkeypatch):
    """64 MB of zeros in a 64 kB zip; the limit is lowered so the test stays small and fast."""
    monkeypatch.setattr(model_module, "MAX_ARCHIVE_BYTES", 32 * 1024**2)
    archive = n2v_like(tmp_path / "bomb.zip", [("zeros.bin", bytes(64 * 1024**2))])
    assert archive.stat().st_size < 200_000
    with pytest.raises(ModelError, match="would unpack to 0.1 GB"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sizes_that_lie_cannot_unpack_more_and_leave_nothing_in_the_cache(tmp_path, cache):
    archive = n2v_like(tmp_path / "liar.zip", [("weights.bin", bytes(1 << 20))])
    _declare_size(archive, "weights.bin", 1024)
    with pytest.raises(ModelError, match="is not a valid zip archive"):
        extract_archive(archive)
    assert everything_under(cache) == []


def test_archive_without_n2v_content_is_refused_and_cleaned_up(tmp_path, cache):
    archive = make_zip(tmp_path / "other.zip", [("readme.txt", b"not a model")])
    with pytest.raises(ModelError, match="lacks n2v.s config.json or TensorFlow weights"):
        extract_archive(archive)
    assert everything_under(cache) == []


def test_cache_is_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGEJ_N2V_CACHE", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(model_module.tempfile, "tempdir", None)  # let tempfile read TMPDIR again
    archive = n2v_like(tmp_path / "model.zip")
    folder = extract_archive(archive)
    root = tmp_path / f"imagej-n2v-models-{os.getuid()}"
    assert folder.parent == root and stat.S_IMODE(root.stat().st_mode) == 0o700
    assert (folder / "config.json").is_file() and (folder / "tf_model" / "saved_model.pb").is_file()
    assert extract_archive(archive) == folder


@pytest.mark.parametrize("how", ["writable by others", "another owner", "a symbolic link"])
def test_a_cache_others_could_plant_models_in_is_refused(tmp_path, cache, how):
    archive = n2v_like(tmp_path / "model.zip")
    if how == "a symbolic link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        cache.symlink_to(tmp_path / "elsewhere")
    else:
        cache.mkdir(mode=0o700)
        if how == "writable by others":
            cache.chmod(0o777)
        else:
            if os.getuid() != 0:
                pytest.skip("only root can give a folder to another owner")
            os.chown(cache, 65534, 65534)
    planted = cache / hashlib.sha256(archive.read_bytes()).hexdigest()[:16]  # where a cached copy is looked for
    planted.mkdir()
    (planted / ".complete").touch()
    (planted / "config.json").write_text('{"planted": true}')
    with pytest.raises(ModelError, match=f"The model cache {cache} is not a private folder of yours"):
        extract_archive(archive)


@pytest.mark.slow
def test_a_real_export_unpacks_and_describes(tiny_model, cache):
    archive = tiny_model / "tiny.bioimage.io.zip"
    description = describe_model(archive)
    assert description.source == archive and description.folder.parent == cache
    assert description.metadata["normalization"] == "per-plane"
    assert (description.folder / "tf_model" / "saved_model.pb").is_file()
