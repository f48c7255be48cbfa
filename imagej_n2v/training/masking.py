"""The blind-spot grid: how many pixels of each patch N2V hides, sized for 2D and for 3D.

n2v hides one pixel in every box of a grid laid over each patch, the box side chosen so that
``perc_pix`` percent are hidden: ``sqrt(100 / perc_pix)`` in 2D. n2v 0.3.3 uses that 2D side
for 3D patches too, so a 3D patch hides one voxel per box³ (0.2 % at the default 1.5 %, 16 in
an 8x32x32 patch against the 122 its log claims), and where the box is larger than the patch's
depth some patches hide none: a batch of them has a loss of 0/0, NaN (measured: 3 % of batch-4
batches at perc_pix 0.198). Here the side is ``(100 / perc_pix) ** (1 / dims)`` and never larger
than the patch's shortest side, so the box at the patch's corner always lies inside it and every
patch has at least one blind spot. n2v derives its box from its own ``n2v_perc_pix``, so we pass
it the value whose 2D formula gives our side: nothing in n2v is patched.
"""

from __future__ import annotations

import math
from typing import Sequence


def box_side(perc_pix: float, shape: Sequence[int]) -> int:
    """The side of the grid's boxes for patches of ``shape`` (2D or 3D), one blind spot per box."""
    side = int(round((100.0 / perc_pix) ** (1.0 / len(shape))))
    return max(2, min(side, *shape))  # 1 would hide every pixel: nothing left to predict from


def n2v_perc_pix(perc_pix: float, shape: Sequence[int]) -> float:
    """The ``n2v_perc_pix`` that makes n2v's grid use ``box_side``: the user's value where n2v already would.

    n2v also refuses (with an assertion) a value that its own count, ``int(pixels / 100 * perc)``,
    puts below one; the value returned is inside n2v's rounding of the side, above that count.
    """
    side = box_side(perc_pix, shape)
    if int(round(math.sqrt(100.0 / perc_pix))) == side and int(math.prod(shape) / 100.0 * perc_pix) >= 1:
        return perc_pix  # 2D within the patch: n2v's own grid, its config unchanged
    return 100.0 / (side - 0.25) ** 2


def blind_spots(perc_pix: float, shape: Sequence[int]) -> tuple[int, float]:
    """The fewest blind spots a patch of ``shape`` gets, and the share of its pixels hidden on average."""
    side = box_side(perc_pix, shape)
    return math.prod(n // side for n in shape), 1.0 / side ** len(shape)
