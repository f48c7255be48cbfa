"""Patch sampling: inside the kept area, the right count and split, reproducible by seed, and
validation patches that share no pixel with training patches."""

import numpy as np
import pytest

from imagej_n2v.data.planes import kept_columns, plane_normalization
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.errors import InputError
from imagej_n2v.training.patches import sample_patches

SIZE = 8
WIDTH = 40
HEIGHT = 24
STRIPS = [(3, 5), (0, 0), (7, 2), (4, 4)]  # (left, right) zero strip widths per plane


def _coded_stack(height: int = HEIGHT) -> PlaneStack:
    """ZYX planes of distinct random values (unique in the whole stack) with zero strips.

    A patch, de-normalised with its plane's statistics, is then found at exactly one place;
    the values are random rather than a ramp because normalisation would make any affine
    code look alike in every plane.
    """
    rng = np.random.default_rng(0)
    values = rng.choice(np.arange(1000, 60000), size=len(STRIPS) * height * WIDTH, replace=False)
    data = values.reshape(len(STRIPS), height, WIDTH).astype(np.uint16)
    for z, (left, right) in enumerate(STRIPS):
        data[z, :, :left] = 0
        data[z, :, WIDTH - right :] = 0
    return PlaneStack(data, "ZYX")


def _locate(patch: np.ndarray, stack: PlaneStack) -> tuple[int, int, int]:
    """(z, y, x) of the kept-area window that equals ``patch``; fails if there is none."""
    for index in stack.indices():
        plane = stack.plane(index)
        columns = kept_columns(plane)
        raw = np.rint(plane_normalization(plane[:, columns]).invert(patch.copy()))
        ys, xs = np.nonzero(plane == raw[0, 0])
        for y, x in zip(ys, xs):
            inside = columns.start <= x and x + SIZE <= columns.stop and y + SIZE <= plane.shape[0]
            if inside and np.array_equal(raw, plane[y : y + SIZE, x : x + SIZE]):
                return index.z, int(y), int(x)
    raise AssertionError(f"patch starting with {patch[0, 0]} is not a window of any plane's kept area")


def _candidates() -> int:
    return sum((HEIGHT - SIZE + 1) * (WIDTH - left - right - SIZE + 1) for left, right in STRIPS)


def test_every_patch_lies_inside_a_kept_area_and_positions_are_distinct():
    stack = _coded_stack()
    patches = sample_patches([stack], SIZE, 300, 0.1, seed=4)
    everything = np.concatenate([patches.train, patches.validation])[..., 0]
    positions = [_locate(p, stack) for p in everything]
    assert len(set(positions)) == len(positions) == 300
    assert {z for z, _, _ in positions} == set(range(len(STRIPS)))  # drawn from every plane
    assert patches.candidates < _candidates()  # positions across the validation band's edge are left out
    assert patches.planes_used == len(STRIPS) and patches.planes_skipped == 0


def test_count_is_capped_by_the_positions_available():
    stack = _coded_stack()
    some = sample_patches([stack], SIZE, 50, 0.2, 0)
    assert (len(some.train), len(some.validation)) == (40, 10)
    every = sample_patches([stack], SIZE, 10**6, 0.1, 0)
    assert len(every.train) + len(every.validation) == every.candidates


@pytest.mark.parametrize("count, fraction, n_val", [(100, 0.1, 10), (100, 0.25, 25), (7, 0.1, 1), (2, 0.9, 1), (50, 0.01, 1)])
def test_split_sizes(count, fraction, n_val):
    patches = sample_patches([_coded_stack()], SIZE, count, fraction, 0)
    assert len(patches.validation) == n_val
    assert len(patches.train) == count - n_val
    assert patches.train.shape[1:] == (SIZE, SIZE, 1) and patches.train.dtype == np.float32


def test_same_seed_same_patches_other_seed_other_patches():
    stack = _coded_stack()
    first = sample_patches([stack], SIZE, 120, 0.1, seed=11)
    again = sample_patches([stack], SIZE, 120, 0.1, seed=11)
    other = sample_patches([stack], SIZE, 120, 0.1, seed=12)
    np.testing.assert_array_equal(first.train, again.train)
    np.testing.assert_array_equal(first.validation, again.validation)
    assert not np.array_equal(first.train, other.train)


def _pixels(stack: PlaneStack, patches: np.ndarray) -> set[tuple[int, int, int]]:
    """Every (z, y, x) the patches cover."""
    covered = set()
    for z, y, x in (_locate(p, stack) for p in patches[..., 0]):
        covered |= {(z, y + dy, x + dx) for dy in range(SIZE) for dx in range(SIZE)}
    return covered


def test_validation_shares_no_pixel_with_training_in_a_band_of_each_plane():
    """Few planes: a band of rows at the bottom of every plane validates (the seed's lesson:
    validation from every plane, not from one part of the sample)."""
    stack = _coded_stack()
    patches = sample_patches([stack], SIZE, 400, 0.1, seed=0)
    assert not _pixels(stack, patches.train) & _pixels(stack, patches.validation)
    assert {z for z, _, _ in _pixels(stack, patches.validation)} == set(range(len(STRIPS)))
    assert min(y for _, y, _ in _pixels(stack, patches.validation)) == HEIGHT - SIZE
    assert patches.validation_area.startswith("a band of rows")


def test_on_taller_planes_the_band_lies_in_their_middle_and_the_rows_above_and_below_train():
    """The edges of a field are more often background than its middle (measured on the phalloidin plane)."""
    stack = _coded_stack(height=5 * SIZE)
    patches = sample_patches([stack], SIZE, 400, 0.1, seed=0)
    held, trained = _pixels(stack, patches.validation), _pixels(stack, patches.train)
    assert not trained & held
    assert {y for _, y, _ in held} == set(range(2 * SIZE, 3 * SIZE))
    assert {y for _, y, _ in trained} == set(range(2 * SIZE)) | set(range(3 * SIZE, 5 * SIZE))
    assert patches.validation_area == "a band of rows through the middle of each plane held out"


@pytest.mark.parametrize("height, size, fraction, expected", [
    (623, 64, 0.1, ([slice(0, 279), slice(343, 623)], slice(279, 343))),  # the phalloidin plane: the middle
    (24, 8, 0.1, ([slice(0, 16)], slice(16, 24))),  # less than two patch heights each side: the bottom
    (15, 8, 0.1, None),  # too low for a band and a stretch of training rows
    (1000, 32, 0.25, ([slice(0, 375), slice(625, 1000)], slice(375, 625))),
])
def test_the_band_lies_in_the_middle_where_it_leaves_room_above_and_below(height, size, fraction, expected):
    from imagej_n2v.training.holdout import row_bands

    assert row_bands(height, size, fraction) == expected


def test_with_many_planes_whole_planes_spread_over_the_stack_validate():
    values = np.random.default_rng(1).choice(np.arange(1000, 60000), size=20 * HEIGHT * WIDTH, replace=False)
    stack = PlaneStack(values.reshape(20, HEIGHT, WIDTH).astype(np.uint16), "ZYX")
    patches = sample_patches([stack], SIZE, 500, 0.1, seed=3)
    held = {z for z, _, _ in _pixels(stack, patches.validation)}
    trained = {z for z, _, _ in _pixels(stack, patches.train)}
    assert len(held) == 2 and not held & trained and len(trained) == 18
    assert max(held) - min(held) >= 5  # spread over the stack, not two neighbours
    assert patches.validation_area == "2 of 20 planes held out"
    assert (len(patches.validation), len(patches.train)) == (50, 450)


def test_one_small_plane_validates_on_overlapping_patches_and_says_so():
    patches = sample_patches([PlaneStack(np.arange(144, dtype=np.uint16).reshape(12, 12), "YX")], SIZE, 20, 0.1, 0)
    assert len(patches.validation) == 2 and len(patches.train) == 18
    assert "overlapping" in patches.validation_area


def test_patches_are_normalised_per_plane():
    bright = np.random.default_rng(0).gamma(4, 500, (2, 32, 32)).astype(np.float32)
    bright[1] /= 100  # a plane 100x dimmer
    patches = sample_patches([PlaneStack(bright, "ZYX")], 16, 200, 0.1, 0)
    values = np.concatenate([patches.train, patches.validation])
    assert abs(float(values.mean())) < 0.2 and 0.7 < float(values.std()) < 1.3


def test_all_zero_planes_are_skipped_and_channels_can_be_chosen():
    data = np.zeros((3, 2, 16, 16), np.uint16)  # Z, C
    data[:, 0] = 100
    data[:, 1] = 5000
    data[1] = 0  # one slice entirely zero
    stack = PlaneStack(data, "ZCYX")
    patches = sample_patches([stack], 8, 50, 0.1, 0, channels=[1])
    assert patches.planes_used == 2 and patches.planes_skipped == 1
    assert [n.mean for n in patches.normalizations] == [5000, 5000]


def test_several_stacks_of_different_sizes_contribute():
    small = PlaneStack(np.full((12, 12), 7, np.uint16), "YX")
    large = PlaneStack(np.full((2, 20, 30), 9, np.uint16), "ZYX")
    patches = sample_patches([small, large], 8, 10**5, 0.1, 0)
    # the small plane is too low for a validation band; each large one keeps 12 rows for
    # training (5 rows of positions) and 8 for validation (1 row)
    assert patches.candidates == 5 * 5 + 2 * (5 + 1) * 23
    assert sorted({n.mean for n in patches.normalizations}) == [7, 9]


def test_too_small_images_are_a_clear_error():
    stack = _coded_stack()
    with pytest.raises(InputError, match="No plane has a 32x32 area of data.*smaller --patch-size"):
        sample_patches([stack], 32, 10, 0.1, 0)
    one = PlaneStack(np.ones((8, 8), np.uint16), "YX")
    with pytest.raises(InputError, match="only 1 patch"):
        sample_patches([one], 8, 10, 0.1, 0)


def test_orientations_keep_a_struct_mask_and_augment_turns_each_patch_to_one_of_them():
    from imagej_n2v.config.masks import mask_array, normalize_mask
    from imagej_n2v.data.orientations import orientations, turn, unturn
    from imagej_n2v.training.patches import augment

    assert orientations() == list(range(8))
    rows = np.array(mask_array(normalize_mask("rows")))
    assert orientations(rows) == [0, 2, 4, 6] and all(np.array_equal(turn(rows, k), rows) for k in orientations(rows))
    plane = np.arange(12).reshape(3, 4)
    assert len({turn(plane, k).tobytes() + bytes(turn(plane, k).shape) for k in range(8)}) == 8  # 8 different
    assert all(np.array_equal(unturn(turn(plane, k), k), plane) for k in range(8))
    patches = np.random.default_rng(0).random((400, SIZE, SIZE, 1)).astype(np.float32)
    for allowed in (range(8), orientations(rows)):
        turned = patches.copy()
        augment(turned, allowed, seed=5)
        found = [next(k for k in range(8) if np.array_equal(turn(p[..., 0], k), t[..., 0])) for p, t in zip(patches, turned)]
        assert set(found) == set(allowed)  # every allowed orientation drawn, no other
    first, again = patches.copy(), patches.copy()
    augment(first, range(8), seed=5)
    augment(again, range(8), seed=5)
    np.testing.assert_array_equal(first, again)  # the same seed turns the same patches
