"""The ImageJ commands' shared Python side: what the user must read reaches ImageJ's Log (issue 13)."""

from __future__ import annotations

import numpy as np

from imagej_n2v import api
from imagej_n2v.data.output_types import PlaneConverter
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.imagej.bridge import tasks
from imagej_n2v.imagej.bridge.tasks import _then


class _Log:
    """A Reporter that keeps what ImageJ's Log would show."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def progress(self, done: int, total: int, status: str) -> None:
        pass

    def loss(self, epoch: int, loss: float, val_loss: float) -> None:
        pass


def test_core_warnings_while_planes_are_made_reach_the_log_before_the_done_line():
    def planes():
        convert = PlaneConverter(np.uint8, "auto", "dark.tif")
        yield convert(np.linspace(-40, 200, 256, dtype=np.float32).reshape(16, 16))
        convert.report()  # as denoise_planes does after its last plane: a sixth went below 0

    report = _Log()
    made = list(_then(planes(), report, "N2V Denoise: dark_denoised: done"))
    assert len(made) == 1 and made[0].min() == 0
    assert report.lines[0].startswith("N2V Denoise: dark.tif: 42 denoised pixels (16%) fell outside 0..65535")
    assert report.lines[-1] == "N2V Denoise: dark_denoised: done"
    list(_then(iter(()), report, "again"))  # the handler is gone once the planes are made
    assert report.lines[-2:] == ["N2V Denoise: dark_denoised: done", "again"]


def test_planes_of_a_tiled_stack_reach_imagej_as_whole_arrays(tiny_model, dome_stack):
    """Tiles hand their output on in bands; ImageJ's planes (both ways into ImageJ take these) are arrays."""
    denoised = tasks.denoise(PlaneStack(dome_stack.noisy, dome_stack.axes), "dome",
                             f"model=[{tiny_model}] tile_size=52 check=off", _Log())
    planes = list(denoised.planes)
    assert all(type(plane) is np.ndarray for plane in planes)
    expected = api.denoise(dome_stack.noisy, dome_stack.axes, tiny_model, tile_size=52, check="off")
    np.testing.assert_array_equal(np.stack(planes), expected.reshape(-1, *expected.shape[-2:]))
