"""The known-answer tasks of the search-quality benchmark (benchmarks/known_answer.py): the
named harmful ops really carry an image into the other label's half, as the engine applies them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from awsaug_cli.kernels.pillow_reference import apply_op
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.space import AWS36

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import known_answer  # noqa: E402


def grey(images: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(np.stack([image] * 3, axis=-1)) for image in images]


@pytest.mark.parametrize("space", ["aws36", "trivialaugment"])
def test_polarity_inverts_half_the_images_and_moves_their_labels_as_the_invert_ops_do(space):
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    labels = generator.integers(0, 10, size=40, dtype=np.uint8)
    shown, moved = known_answer.with_polarity(images, labels, 10, seed=3)
    inverted = moved >= 10
    assert 10 < inverted.sum() < 30 and np.array_equal(moved % 10, labels)
    ops = SEARCH_SPACES[space].space
    assert known_answer.TASKS["fashion-polarity"].harmful[space]
    for name in known_answer.TASKS["fashion-polarity"].harmful[space]:
        op = ops.ops[ops.index(name)]
        for original, picture, was_inverted in zip(grey(images), grey(shown), inverted):
            turned = np.asarray(apply_op(original, op, 1))[..., 0]  # what the op shows the network
            expected = np.asarray(picture)[..., 0] if was_inverted else 255 - np.asarray(picture)[..., 0]
            assert np.array_equal(turned, expected)


def test_tilt_turns_half_the_images_exactly_as_the_rotate_op_of_that_angle():
    images, labels = known_answer.digits_images()[0]
    images, labels = images[:30], labels[:30]
    shown, moved = known_answer.with_tilt(images, labels, 10, seed=1)
    tilted = moved >= 10
    assert 5 < tilted.sum() < 25 and np.array_equal(moved % 10, labels)
    assert np.array_equal(shown[~tilted], images[~tilted])
    rotate = AWS36.ops[AWS36.index(f"Rotate_mag{known_answer.TILT_DEGREES}")]
    assert "Rotate_mag30" in known_answer.TASKS["digits-tilt"].harmful["aws36"]
    for original, picture in zip(grey(images[tilted]), shown[tilted]):
        turned = [np.asarray(apply_op(original, rotate, sign))[..., 0] for sign in (1, -1)]
        assert any(np.array_equal(version, picture) for version in turned)


def test_the_trivialaugment_spaces_harmful_rotations_carry_an_upright_digit_past_the_midway_but_short_of_60():
    ops = SEARCH_SPACES["trivialaugment"].space
    named = known_answer.TASKS["digits-tilt"].harmful["trivialaugment"]
    angles = [ops.ops[ops.index(name)].magnitude for name in named]
    assert named and all(name.startswith("Rotate_") for name in named)
    assert all(known_answer.TILT_DEGREES / 2 < angle < 2 * known_answer.TILT_DEGREES - 15 for angle in angles)
    nearest = min((op.magnitude for op in ops.ops if op.name.startswith("Rotate_")), key=lambda a: abs(a - 30))
    assert nearest in angles  # the bin closest to the tilt is among them


def test_the_idx_writer_round_trips_through_the_reader(tmp_path):
    from awsaug_cli.data import load_dataset

    generator = np.random.default_rng(1)
    train = (generator.integers(0, 256, (30, 28, 28), dtype=np.uint8), np.arange(30, dtype=np.uint8) % 3)
    test = (generator.integers(0, 256, (9, 28, 28), dtype=np.uint8), np.arange(9, dtype=np.uint8) % 3)
    folder = known_answer.write_idx_folder(tmp_path / "set", train, test)
    dataset = load_dataset(folder)
    assert np.array_equal(dataset.test_images[:, 0].numpy(), test[0])
    assert np.array_equal(dataset.test_labels.numpy(), test[1])


@pytest.mark.skipif(not known_answer.FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_fashion_subset_is_fixed_and_stratified():
    (images, labels), (test_images, test_labels) = known_answer.fashion_subset(200, 50)
    again = known_answer.fashion_subset(200, 50)[0][0]
    assert images.shape == (200, 28, 28) and test_images.shape == (50, 28, 28) and np.array_equal(images, again)
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
