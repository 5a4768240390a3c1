"""Image corruptions: determinism, layouts, severity ordering, spec round trips, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage, stats

from assay.errors import InvalidInput
from assay.evaluation.corruptions import (
    REGISTRY,
    CorruptionSpec,
    accuracy_under_corruptions,
    apply,
    corrupt,
    corruption_names,
    frost_texture,
    lookup,
)
from assay.evaluation.corruptions._blur import local_shuffle

ALL = corruption_names("all")
RANDOM = [name for name in ALL if REGISTRY[name].random]
FIXED = [name for name in ALL if not REGISTRY[name].random]


def textured(height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """Multi-scale smooth noise over a colour gradient: no period a blur or resize could hit."""
    rng = np.random.default_rng(seed)
    layers = [
        ndimage.gaussian_filter(rng.normal(size=(height, width, 3)), (s, s, 0)) for s in (1, 3, 8)
    ]
    noise = sum(layer / layer.std() for layer in layers) / 3
    yy, xx = np.mgrid[0:height, 0:width]
    ramp = np.stack([xx / width, yy / height, 1 - xx / width], axis=2)
    img = noise * 0.18 + 0.375 + 0.25 * ramp
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


IMAGE = textured()


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_registry_lists_the_15_imagenet_c_corruptions_in_order() -> None:
    assert corruption_names() == [
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "defocus_blur",
        "glass_blur",
        "motion_blur",
        "zoom_blur",
        "snow",
        "frost",
        "fog",
        "brightness",
        "contrast",
        "elastic_transform",
        "pixelate",
        "jpeg_compression",
    ]
    assert corruption_names("sensor") == ["jpeg", "downscale", "pixel_dropout", "occlusion"]
    assert corruption_names("blur") == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"]
    assert len(ALL) == 19


@pytest.mark.parametrize("name", ALL)
def test_same_seed_gives_identical_bytes(name: str) -> None:
    spec = CorruptionSpec(name, severity=3, seed=11)
    first = apply(IMAGE, spec)
    second = apply(IMAGE.copy(), CorruptionSpec.from_dict(spec.to_dict()))
    assert first.tobytes() == second.tobytes()
    assert not np.array_equal(first, IMAGE)


@pytest.mark.parametrize("name", RANDOM)
def test_different_seed_gives_different_output(name: str) -> None:
    first = apply(IMAGE, CorruptionSpec(name, severity=3, seed=1))
    second = apply(IMAGE, CorruptionSpec(name, severity=3, seed=2))
    assert first.tobytes() != second.tobytes()


@pytest.mark.parametrize("name", FIXED)
def test_deterministic_corruptions_ignore_the_seed(name: str) -> None:
    first = apply(IMAGE, CorruptionSpec(name, severity=2, seed=1))
    second = apply(IMAGE, CorruptionSpec(name, severity=2, seed=2))
    assert first.tobytes() == second.tobytes()


def test_index_gives_independent_reproducible_streams() -> None:
    spec = CorruptionSpec("gaussian_noise", severity=2, seed=5)
    a0 = apply(IMAGE, spec, index=0)
    assert a0.tobytes() == apply(IMAGE, spec, index=0).tobytes()
    assert a0.tobytes() != apply(IMAGE, spec, index=1).tobytes()
    assert a0.tobytes() != apply(IMAGE, spec).tobytes()
    with pytest.raises(InvalidInput, match="index"):
        apply(IMAGE, spec, index=-1)


def test_input_is_not_modified() -> None:
    image = IMAGE.copy()
    for name in ALL:
        apply(image, CorruptionSpec(name, severity=5, seed=3))
    assert np.array_equal(image, IMAGE)


layouts = st.sampled_from([None, 1, 3, 4])


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=12, deadline=None)
@given(
    height=st.integers(1, 37),
    width=st.integers(1, 37),
    channels=layouts,
    severity=st.integers(1, 5),
    seed=st.integers(0, 2**32),
    fill=st.integers(0, 255),
)
def test_any_size_and_layout_keeps_shape_and_dtype(
    name: str, height: int, width: int, channels: int | None, severity: int, seed: int, fill: int
) -> None:
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    image[0, 0] = fill
    out = apply(image, CorruptionSpec(name, severity=severity, seed=seed % 1000))
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    if channels == 4:
        assert np.array_equal(out[:, :, 3], image[:, :, 3])


@pytest.mark.parametrize("name", ALL)
def test_alpha_passes_through_and_colour_matches_rgb(name: str) -> None:
    alpha = np.random.default_rng(9).integers(0, 256, IMAGE.shape[:2], dtype=np.uint8)
    rgba = np.concatenate([IMAGE, alpha[:, :, None]], axis=2)
    spec = CorruptionSpec(name, severity=4, seed=2)
    out = apply(rgba, spec)
    assert np.array_equal(out[:, :, 3], alpha)
    assert np.array_equal(out[:, :, :3], apply(IMAGE, spec))


@pytest.mark.parametrize("name", ALL)
def test_grayscale_2d_equals_single_channel(name: str) -> None:
    gray = IMAGE[:, :, 1]
    spec = CorruptionSpec(name, severity=3, seed=4)
    flat = apply(gray, spec)
    assert flat.shape == gray.shape
    assert np.array_equal(flat, apply(gray[:, :, None], spec)[:, :, 0])
    assert not np.array_equal(flat, gray)


# The published severity tables are not monotone in mean absolute difference for two
# corruptions: snow severity 3 raises the flake threshold as much as it raises their density,
# and frost severity 4 lowers the image weight while keeping the frost weight, which darkens
# the blend towards the clean image. test_corruptions_parity checks imagecorruptions dips too.
NOT_MONOTONE = {"snow": (2, 3), "frost": (3, 4)}


@pytest.mark.parametrize("name", ALL)
def test_damage_grows_with_severity(name: str) -> None:
    seeds = range(4) if REGISTRY[name].random else range(1)
    damage = [
        np.mean([mad(apply(IMAGE, CorruptionSpec(name, s, seed)), IMAGE) for seed in seeds])
        for s in range(1, 6)
    ]
    skip = NOT_MONOTONE.get(name)
    for low in range(1, 5):
        if skip == (low, low + 1):
            assert damage[low] < damage[low - 1] + 1.0  # a dip or a plateau, as published
            continue
        assert damage[low] > damage[low - 1], (name, low, damage)
    assert damage[4] > damage[0] + 1.0


def test_local_shuffle_is_a_bounded_permutation() -> None:
    image = np.arange(30 * 40, dtype=np.int64).reshape(30, 40, 1)
    shuffled = image.copy()
    local_shuffle(shuffled, max_delta=3, iterations=1, rng=np.random.default_rng(0))
    assert sorted(shuffled.ravel()) == sorted(image.ravel())
    assert (shuffled != image).mean() > 0.5
    rows, cols = np.divmod(shuffled[:, :, 0], 40)
    yy, xx = np.mgrid[0:30, 0:40]
    # one pass carries a pixel at most a few swaps; it stays local
    assert np.abs(rows - yy).max() <= 3 * 4
    assert np.abs(cols - xx).max() <= 3 * 4


def test_local_shuffle_leaves_tiny_images_alone() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    shuffled = image.copy()
    local_shuffle(shuffled, max_delta=2, iterations=3, rng=np.random.default_rng(0))
    assert np.array_equal(shuffled, image)


def test_frost_texture_is_deterministic_and_frost_coloured() -> None:
    a = frost_texture(np.random.default_rng(3), 120, 160)
    b = frost_texture(np.random.default_rng(3), 120, 160)
    assert np.array_equal(a, b)
    assert a.shape == (120, 160, 3)
    mean = a.mean(axis=(0, 1))
    assert mean[0] < mean[1] < mean[2]  # bluish white, like the original photographs
    assert 130 < mean.mean() < 180
    assert 20 < a.std() < 40


def test_noise_statistics_follow_the_published_parameters() -> None:
    flat = np.full((200, 200, 3), 128, dtype=np.uint8)
    for severity, std in enumerate((0.08, 0.12, 0.18, 0.26, 0.38), start=1):
        out = apply(flat, CorruptionSpec("gaussian_noise", severity, seed=1)) / 255.0
        # clipping at 0 and 1 only touches the tails: the median absolute deviation is unbiased
        robust_std = np.median(np.abs(out - np.median(out))) * 1.4826
        assert abs(robust_std - std) < 0.05 * std + 2 / 255
    for severity, amount in enumerate((0.03, 0.06, 0.09, 0.17, 0.27), start=1):
        out = apply(flat, CorruptionSpec("impulse_noise", severity, seed=1))
        flipped = np.isin(out, (0, 255)).mean()
        assert abs(flipped - amount) < 0.01
    for severity, photons in enumerate((60, 25, 12, 5, 3), start=1):
        out = apply(flat, CorruptionSpec("shot_noise", severity, seed=1)) / 255.0
        counts = np.arange(200)
        pmf = stats.poisson.pmf(counts, (128 / 255) * photons)
        values = np.floor(np.clip(counts / photons, 0, 1) * 255) / 255  # clipped, truncated
        expected = np.sqrt(pmf @ values**2 - (pmf @ values) ** 2)
        assert abs(out.std() - expected) < 0.03 * expected


def test_contrast_and_brightness_formulas() -> None:
    image = IMAGE / 255.0
    out = apply(IMAGE, CorruptionSpec("contrast", severity=3)) / 255.0
    means = image.mean(axis=(0, 1))
    expected = np.clip((image - means) * 0.2 + means, 0, 1)
    assert np.abs(out - expected).max() <= 1 / 255 + 1e-9
    gray = np.full((4, 4), 100, dtype=np.uint8)
    assert np.all(
        apply(gray, CorruptionSpec("brightness", severity=2)) == int((100 / 255 + 0.2) * 255)
    )
    red = np.zeros((2, 2, 3), dtype=np.uint8)
    red[..., 0] = 100
    out = apply(red, CorruptionSpec("brightness", severity=1)).astype(int)
    assert (out[..., 1:] == 0).all()  # hue and saturation kept
    assert (out[..., 0] == int((100 / 255 + 0.1) * 255)).all()


def test_sensor_effects_follow_their_parameters() -> None:
    big = np.full((100, 100, 3), 200, dtype=np.uint8)
    out = corrupt(big, "pixel_dropout", rate=0.25, value=7, seed=3)
    dead = (out == 7).all(axis=2)
    assert abs(dead.mean() - 0.25) < 0.03
    assert ((out == 200).all(axis=2) | dead).all()
    out = corrupt(big, "occlusion", count=1, size=0.3, value=0, seed=3)
    assert (out == 0).all(axis=2).sum() == 30 * 30
    assert np.array_equal(corrupt(IMAGE, "jpeg", quality=100), corrupt(IMAGE, "jpeg", quality=100))
    low = mad(corrupt(IMAGE, "jpeg", quality=5), IMAGE)
    high = mad(corrupt(IMAGE, "jpeg", quality=95), IMAGE)
    assert low > 2 * high
    assert np.array_equal(corrupt(IMAGE, "downscale", factor=1.0), IMAGE)
    assert mad(corrupt(IMAGE, "downscale", factor=0.2), IMAGE) > 2


def test_spec_round_trips_through_json() -> None:
    spec = CorruptionSpec("occlusion", severity=4, seed=9, params={"size": 0.5, "count": 2})
    data = json.loads(json.dumps(spec.to_dict()))
    assert data == {
        "name": "occlusion",
        "severity": 4,
        "seed": 9,
        "params": {"count": 2, "size": 0.5},
    }
    back = CorruptionSpec.from_dict(data)
    assert back == spec
    assert hash(back) == hash(spec)
    assert CorruptionSpec.from_dict({"name": "fog"}) == CorruptionSpec("fog", 1, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "rain"}, "name"),
        ({"name": "fog", "severity": 0}, "severity"),
        ({"name": "fog", "severity": 6}, "severity"),
        ({"name": "fog", "severity": True}, "severity"),
        ({"name": "fog", "severity": 2.5}, "severity"),
        ({"name": "fog", "seed": -1}, "seed"),
        ({"name": "fog", "params": {"quality": 3}}, "params.quality"),
        ({"name": "jpeg", "params": {"quality": 0}}, "params.quality"),
        ({"name": "jpeg", "params": {"quality": 50.5}}, "params.quality"),
        ({"name": "jpeg", "params": {"quality": "high"}}, "params.quality"),
        ({"name": "downscale", "params": {"factor": float("nan")}}, "params.factor"),
        ({"name": "fog", "colour": 1}, "colour"),
        ({"severity": 1}, "name"),
        ({"name": 3}, "name"),
    ],
)
def test_bad_specs_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        CorruptionSpec.from_dict(data)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[1, 2], [3, 4]], "numpy uint8 array"),
        (np.zeros((4, 4), dtype=np.float32), "dtype uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "shape"),
        (np.zeros((4,), dtype=np.uint8), "shape"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "at least 1"),
    ],
)
def test_bad_images_are_rejected(image: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        apply(image, CorruptionSpec("fog"))  # type: ignore[arg-type]


def test_apply_wants_a_spec() -> None:
    with pytest.raises(InvalidInput, match="CorruptionSpec"):
        apply(IMAGE, {"name": "fog"})  # type: ignore[arg-type]


def test_lookup_reports_known_names() -> None:
    assert lookup("fog").family == "weather"
    with pytest.raises(InvalidInput, match="gaussian_noise"):
        lookup("gaussian")
    with pytest.raises(InvalidInput, match="group"):
        corruption_names("bogus")  # type: ignore[arg-type]


def brightness_classifier(batch: list[np.ndarray]) -> list[str]:
    return ["bright" if image.mean() > 127 else "dark" for image in batch]


def test_accuracy_under_corruptions_table() -> None:
    rng = np.random.default_rng(0)
    levels = [40, 90, 110, 150, 170, 220]
    images = [np.clip(rng.normal(v, 5, (16, 16, 3)), 0, 255).astype(np.uint8) for v in levels]
    labels = ["dark", "dark", "dark", "bright", "bright", "bright"]
    table = accuracy_under_corruptions(
        brightness_classifier,
        images,
        labels,
        corruptions=["brightness", "gaussian_noise"],
        severities=[1, 5],
        seed=3,
    )
    rows = {(row.corruption, row.severity): row.accuracy for row in table.rows}
    assert rows[("clean", 0)] == 1.0
    assert rows[("brightness", 1)] == pytest.approx(5 / 6)  # 110 + 0.1 * 255 > 127
    assert rows[("brightness", 5)] == pytest.approx(3 / 6)  # everything looks bright
    assert rows[("gaussian_noise", 1)] == 1.0
    noisy = rows[("gaussian_noise", 5)]
    assert table.mean_accuracy() == pytest.approx(np.mean([5 / 6, 3 / 6, 1.0, noisy]))
    alone = accuracy_under_corruptions(
        brightness_classifier,
        images,
        labels,
        corruptions=["gaussian_noise"],
        severities=[1, 5],
        seed=3,
    )
    # per-image streams: the same rows whatever else runs alongside
    assert alone.rows[1:] == tuple(r for r in table.rows if r.corruption == "gaussian_noise")
    assert table.to_records()[0] == {"corruption": "clean", "severity": 0, "accuracy": 1.0, "n": 6}
    with pytest.raises(InvalidInput, match="labels"):
        accuracy_under_corruptions(brightness_classifier, images, labels[:3])
