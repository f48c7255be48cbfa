"""Property-based tests (hypothesis) for what users type: axes, frame/channel lists, macro options.

Whatever a user types must either work and mean what it says, or end in one clear
``InputError`` sentence, never in another exception, a hang or a silently different choice.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imagej_n2v.data.axes import (
    CANONICAL,
    from_canonical,
    normalize_axes,
    parse_index_list,
    to_canonical,
)
from imagej_n2v.data.stack import PlaneIndex, PlaneStack
from imagej_n2v.errors import AxesError, InputError
from imagej_n2v.imagej.bridge import options

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def one_sentence(error: Exception) -> bool:
    text = str(error)
    return bool(text) and "\n" not in text and text.rstrip().endswith(".")


# --------------------------------------------------------------------------- axes strings


@FAST
@given(st.text(alphabet="TZCYXtzcyxQ1 -_", max_size=8))
def test_any_axes_text_is_accepted_exactly_when_valid(text):
    letters = text.strip().upper()
    valid = bool(letters) and set(letters) <= set(CANONICAL) and len(set(letters)) == len(letters) and {"Y", "X"} <= set(letters)
    try:
        axes = normalize_axes(text)
    except AxesError as error:
        assert not valid and one_sentence(error)
    else:
        assert valid and axes == letters


@st.composite
def array_with_axes(draw):
    others = draw(st.lists(st.sampled_from("TZC"), unique=True, max_size=3))
    axes = "".join(draw(st.permutations(others + ["Y", "X"])))
    shape = tuple(draw(st.integers(1, 3)) if a in "TZC" else draw(st.integers(1, 5)) for a in axes)
    return np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape), axes


@FAST
@given(array_with_axes())
def test_any_axes_order_round_trips_and_planes_are_the_right_pixels(case):
    array, axes = case
    canonical = to_canonical(array, axes)
    assert canonical.ndim == 5 and canonical.size == array.size
    assert np.array_equal(from_canonical(canonical, axes), array)
    stack = PlaneStack(array, axes)
    for t, z, c in itertools.product(range(stack.frames), range(stack.slices), range(stack.channels)):
        assert np.array_equal(stack.plane(PlaneIndex(t, z, c)), canonical[t, z, c])


@FAST
@given(array_with_axes(), st.text(alphabet="TZCYX", min_size=1, max_size=5))
def test_axes_that_do_not_fit_the_shape_are_one_sentence(case, other):
    array, _ = case
    try:
        normalize_axes(other, array.shape)
    except AxesError as error:
        assert one_sentence(error)
    else:
        assert len(other) == array.ndim


# --------------------------------------------------------------------------- frame and channel lists


def as_ranges(numbers: list[int]) -> list[str]:
    """``[1, 2, 3, 7]`` -> ``["1-3", "7"]``, as a user would write them."""
    parts = []
    for _, run in itertools.groupby(enumerate(sorted(set(numbers))), lambda p: p[1] - p[0]):
        run = [n for _, n in run]
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return parts


@FAST
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(1, n), min_size=1))),
       st.randoms(use_true_random=False), st.sampled_from(["", " ", "  "]), st.booleans())
def test_written_ranges_parse_to_what_they_say(case, random, space, brackets):
    count, numbers = case
    parts = as_ranges(numbers)
    random.shuffle(parts)
    text = f"{space},{space}".join(parts)
    text = f"[{text}]" if brackets else text
    assert parse_index_list(text, count, "frame") == [n - 1 for n in sorted(set(numbers))]


@FAST
@given(st.text(alphabet="0123456789-, []x", max_size=20), st.integers(1, 50))
def test_any_list_text_gives_valid_indices_or_one_sentence(text, count):
    try:
        chosen = parse_index_list(text, count, "channel")
    except InputError as error:
        assert one_sentence(error) and "channel" in str(error)
    else:
        assert chosen is None or (chosen == sorted(set(chosen)) and all(0 <= i < count for i in chosen))


@settings(max_examples=50, deadline=2000)
@given(st.integers(1, 10), st.integers(10**6, 10**15))
def test_huge_ranges_are_refused_at_once(count, last):
    with pytest.raises(InputError, match=f"asks for frame {last}, but the image has {count} frame"):
        parse_index_list(f"1-{last}", count, "frame")


# --------------------------------------------------------------------------- macro option strings

KEY = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
VALUE = st.text(alphabet=st.characters(blacklist_characters="[]", blacklist_categories=("Cs", "Cc")), max_size=12)


def macro_text(values: dict[str, str | None]) -> str:
    """An options string as ImageJ's recorder writes it: key=value, key=[with spaces], bare flags."""
    words = []
    for key, value in values.items():
        if value is None:
            words.append(key)
        elif value == "" or any(ch.isspace() for ch in value) or value.startswith("["):
            words.append(f"{key}=[{value}]")
        else:
            words.append(f"{key}={value}")
    return " ".join(words)


@FAST
@given(st.dictionaries(KEY, st.one_of(st.none(), VALUE), max_size=6))
def test_recorded_option_strings_parse_back(values):
    assume(all(v is None or v == v.strip() or v.strip() for v in values.values()))
    assert options.parse_option_string(macro_text(values)) == values


NUMBER_LISTS = {"1": (1,), "3": (3,), "1,3": (1, 3), "1-3": (1, 2, 3), "[2-3]": (2, 3), "3,1-2": (1, 2, 3)}
"""Frame and channel lists as users write them, and the 1-based numbers they choose (of 3 channels)."""

VALID = {
    "bit_depth": st.sampled_from(["auto", 16, 32]),
    "frames": st.sampled_from(sorted(NUMBER_LISTS)),
    "channels": st.sampled_from(sorted(NUMBER_LISTS)),
    "precision": st.sampled_from(["fp32", "bf16", "fp16", "auto"]),
    "batch_planes": st.integers(1, 64),
    "keep_zero_columns": st.booleans(),
    "tile_size": st.integers(8, 10**5),
    "check": st.sampled_from(["on", "off", "only"]),
    "patch_size": st.sampled_from([16, 32, 48, 64, 128]),
    "3d": st.booleans(),
    "patch_depth": st.sampled_from([8, 16, 32]),
    "patches": st.integers(2, 10**6),
    "validation": st.sampled_from([0.05, 0.1, 0.25, 0.5, 0.9]),
    "seed": st.integers(0, 2**31),
    "epochs": st.integers(1, 1000),
    "steps": st.integers(1, 1000),
    "batch_size": st.integers(1, 256),
    "unet_depth": st.integers(1, 3),
    "unet_kernel": st.sampled_from([1, 3, 5, 7]),
    "unet_n_first": st.integers(1, 64),
    "learning_rate": st.sampled_from([1e-5, 0.0004, 0.001, 0.1]),
    "perc_pix": st.sampled_from([0.2, 1.5, 10.0, 100.0]),
    "n2v2": st.booleans(),
    "augment": st.booleans(),
    "average": st.booleans(),
    "tta": st.booleans(),
    "time_limit": st.sampled_from(["45s", "30m", "2h", "1h30m"]),
    "patience": st.integers(1, 1000),
    "struct_mask": st.sampled_from(["rows", "columns"]),
    "overwrite": st.booleans(),
    "resume": st.booleans(),
    "inputs": st.sampled_from(["[/data/a.tif]", "[/data/a.tif;/data/more]", "[/my data/b.tiff ; /c]"]),
}
"""Values each macro key accepts (every patch size here divides by 2**3, the deepest U-Net drawn)."""

MODEL = st.from_regex(r"/[a-z][a-z0-9 _.-]{0,15}[a-z0-9]", fullmatch=True)


def recorded(values: dict) -> str:
    """``values`` written as in a macro: checked boxes bare, unchecked ones as key=false, lists as typed."""
    words = []
    for key, value in values.items():
        if value is True:
            words.append(key)
        elif value is False:
            words.append(f"{key}=false")
        else:
            text = str(value)
            words.append(f"{key}={text}" if text.startswith("[") else macro_text({key: text}))
    return " ".join(words)


@FAST
@given(st.sampled_from([options.DENOISE, options.TRAIN]), st.data())
def test_valid_option_strings_are_accepted_and_mean_what_they_say(command, data):
    accepted = {o.key: o for o in options.command_options(command)}
    assert set(accepted) - {"model"} <= set(VALID), "a new macro key needs valid values in VALID"
    keys = data.draw(st.lists(st.sampled_from(sorted(set(accepted) - {"model"})), unique=True, max_size=8))
    values = {"model": data.draw(MODEL), **{key: data.draw(VALID[key]) for key in keys}}
    built = options.build_options(command, recorded(values), image_channels=3)
    assert built.model == values["model"]
    for key, option in accepted.items():
        if key == "model":
            continue
        meant = values.get(key, option.default)
        if key in ("frames", "channels") and key in values:
            meant = NUMBER_LISTS[meant]
        if key == "inputs":
            meant = tuple(p.strip() for p in meant.strip("[]").split(";") if p.strip())
        got = getattr(built, key) if key in ("overwrite", "resume", "inputs") else getattr(built.config, option.name)
        assert got == meant, key


@FAST
@given(st.sampled_from([options.DENOISE, options.TRAIN]), st.text(max_size=40))
def test_any_option_string_gives_settings_or_one_sentence(command, text):
    try:
        built = options.build_options(command, text, image_channels=3)
    except InputError as error:
        assert one_sentence(error)
    else:
        assert built.model.strip()


@FAST
@given(st.sampled_from([options.DENOISE, options.TRAIN]), st.data())
def test_known_keys_with_any_value_give_settings_or_one_sentence(command, data):
    known = [o.key for o in options.command_options(command)]
    chosen = data.draw(st.dictionaries(st.sampled_from(known), st.one_of(st.none(), VALUE), max_size=5))
    chosen.setdefault("model", "/models/dome")
    try:
        built = options.build_options(command, macro_text(chosen), image_channels=3)
    except InputError as error:
        assert one_sentence(error)
    else:
        assert built.model == chosen["model"].strip() or built.model == str(chosen["model"]).strip()
