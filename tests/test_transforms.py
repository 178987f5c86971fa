"""PolicyTransform (transforms.py): one image in, one image out, with a pair drawn per call from
the policy's full distribution — the PIL and tensor paths equal for the same draw, the draws
following the policy, DataLoader workers with their own reproducible streams, bad inputs named,
and README's Dataset example run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import chisquare
from torch.utils.data import DataLoader, Dataset

from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36
from awsaug_cli.torchvision_policies import randaugment, trivialaugment
from awsaug_cli.transforms import PolicyTransform, worker_seed

from .conftest import photo_batch

README = Path(__file__).resolve().parents[1] / "README.md"
SHEARS = ("shear_x", "shear_y", "tv_shear_x", "tv_shear_y")


def as_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy())


def from_pil(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


@pytest.mark.parametrize(
    "policy",
    [Policy.uniform(AWS36), randaugment(2, 9, (32, 32)), trivialaugment()],
    ids=["aws36", "randaugment", "trivialaugment"],
)
def test_pil_and_tensor_paths_give_the_same_image_for_the_same_draw(photos, policy):
    """Every op of the space, both signs, as the first op (the second: the same op, or Identity
    where the space has it); shears within the torch backend's float32 cubic (docs/OPS.md)."""
    transform = PolicyTransform(policy)
    images = photo_batch(photos, 32, 32, per_photo=1)[:3]
    for index, op in enumerate(policy.space.ops):
        for sign in (-1, 1):
            pair, signs = torch.tensor([index, index]), torch.tensor([sign, sign])
            for image in images:
                ours = transform.apply_to_tensor(image, pair, signs)
                reference = from_pil(transform.apply_to_pil(as_pil(image), pair, signs))
                diff = (ours.to(torch.int16) - reference.to(torch.int16)).abs()
                if op.kind in SHEARS:  # two shears in a row: a level on a rare pixel can become two
                    assert diff.max() <= 2 and (diff > 0).float().mean() < 1e-2, f"{op.name} {sign}"
                else:
                    assert diff.max() == 0, f"{policy.space.key} {op.name} sign {sign}: {int((diff > 0).sum())} differ"


def test_float_tensors_go_through_the_same_levels_and_come_back_float():
    transform = PolicyTransform(Policy.uniform(AWS36), torch.Generator().manual_seed(0))
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    pair, signs = torch.tensor([AWS36.index("Invert"), AWS36.index("Rotate_mag30")]), torch.tensor([1, -1])
    as_float = transform.apply_to_tensor(image.double() / 255, pair, signs)
    assert as_float.dtype == torch.float64
    assert torch.equal((as_float * 255).round().to(torch.uint8), transform.apply_to_tensor(image, pair, signs))


def test_calls_draw_pairs_as_often_as_the_policy_says():
    """Chi-square of 20,000 calls' pairs against a tilted TrivialAugment-space policy (cells
    with fewer than 5 expected draws pooled), and of their signs against ½."""
    start = trivialaugment()
    tilt = torch.randn(len(start.space), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    policy = Policy(start.first_logits + tilt, start.second_logits, "softmax", space=start.space)
    transform = PolicyTransform(policy, torch.Generator().manual_seed(0))
    draws = 20_000
    counts, positive = torch.zeros(len(policy.space) ** 2, dtype=torch.float64), 0
    for _ in range(draws):
        pair, signs = transform.draw()
        counts[pair[0] * len(policy.space) + pair[1]] += 1
        positive += int(signs[0] > 0)
    expected = policy.joint().flatten() * draws
    assert counts[expected == 0].sum() == 0  # never a pair the policy cannot draw
    small = expected < 5
    observed = torch.cat([counts[~small & (expected > 0)], counts[small].sum().reshape(1)])
    wanted = torch.cat([expected[~small & (expected > 0)], expected[small].sum().reshape(1)])
    assert chisquare(observed.numpy(), wanted.numpy()).pvalue > 1e-3
    assert chisquare([positive, draws - positive]).pvalue > 1e-3


def test_the_same_generator_repeats_the_draws_and_another_does_not():
    def draws(seed: int) -> list[list[int]]:
        transform = PolicyTransform(Policy.uniform(AWS36), torch.Generator().manual_seed(seed))
        return [torch.cat(transform.draw()).tolist() for _ in range(20)]

    assert draws(3) == draws(3) and draws(3) != draws(4)


class Draws(Dataset):
    """Each item: the worker that read it and the pair and signs the transform drew."""

    def __init__(self, transform: PolicyTransform, size: int = 16) -> None:
        self.transform, self.size = transform, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[int, list[int]]:
        return torch.utils.data.get_worker_info().id, torch.cat(self.transform.draw()).tolist()


def epochs(seed: int, count: int = 2) -> list[dict[int, list[list[int]]]]:
    """Per epoch, each worker's draws in order (two workers, a fixed DataLoader generator)."""
    transform = PolicyTransform(Policy.uniform(AWS36), torch.Generator().manual_seed(5))  # copied into each worker
    loader = DataLoader(Draws(transform), batch_size=None, num_workers=2, generator=torch.Generator().manual_seed(seed))
    out = []
    for _ in range(count):
        per_worker: dict[int, list[list[int]]] = {0: [], 1: []}
        for worker, draw in loader:
            per_worker[worker].append(draw)
        out.append(per_worker)
    return out


def test_dataloader_workers_draw_their_own_streams_and_a_seeded_loader_repeats_them():
    first, again, other = epochs(0), epochs(0), epochs(1)
    assert first[0][0] != first[0][1]  # two workers, two sequences
    assert first[0] != first[1]  # the next epoch draws afresh
    assert first == again  # the same DataLoader seed: the same epochs
    assert first != other


def test_worker_seeds_are_apart_for_neighbouring_workers_and_seeds():
    seeds = {worker_seed(worker, seed) for worker in range(4) for seed in range(4)}
    assert len(seeds) == 16 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize(
    "image, message",
    [
        (Image.new("L", (8, 8)), "RGB PIL images, got mode 'L'"),
        (Image.new("RGBA", (8, 8)), "got mode 'RGBA'"),
        (
            torch.zeros(3, 8, 8, dtype=torch.int32),
            r"uint8 tensors \(0..255\) or floating ones in \[0, 1\], got torch.int32",
        ),
        (torch.zeros(1, 8, 8, dtype=torch.uint8), r"\[3, H, W\] tensor, got shape \[1, 8, 8\]"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), r"\[3, H, W\] tensor, got shape \[2, 3, 8, 8\]"),
        (np.zeros((8, 8, 3), dtype=np.uint8), "a PIL image or a \\[3, H, W\\] torch.Tensor, got ndarray"),
    ],
)
def test_a_wrong_image_is_named_with_what_was_expected(image, message):
    with pytest.raises((ValueError, TypeError), match=message):
        PolicyTransform("uniform")(image)


def test_a_policy_that_applies_nothing_or_cannot_be_read_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'none' applies no ops"):
        PolicyTransform("none")
    with pytest.raises(Exception, match="no such file"):
        PolicyTransform(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="got int"):
        PolicyTransform(3)


def test_repr_names_the_space_its_distance_from_the_start_and_the_top_pairs():
    shown = repr(PolicyTransform("trivialaugment"))
    assert shown.startswith("PolicyTransform(space='trivialaugment-wide', KL from trivialaugment 0.000 nats")
    assert "Identity" in shown
    tilted = Policy(
        torch.zeros(len(AWS36)).index_fill(0, torch.tensor([AWS36.index("Invert")]), 3.0),
        torch.zeros(len(AWS36), len(AWS36)),
        "softmax",
    )
    shown = repr(PolicyTransform(tilted))
    assert "space='aws36', KL from uniform" in shown and "top pairs: Invert+" in shown
    assert " 0.000 nats" not in shown


def test_readme_dataset_example_runs(tmp_path, monkeypatch):
    """README 'Per image, in a Dataset' as written, with a policy.json beside it."""
    text = README.read_text()
    section = text[text.index("#### Per image, in a Dataset") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    Policy.uniform(AWS36).save(tmp_path / "policy.json")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["seen"] == 64


class Compose:
    """torchvision.transforms.Compose, written out (torchvision is not a dependency)."""

    def __init__(self, transforms: list) -> None:
        self.transforms = transforms

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image


def test_it_sits_in_a_compose_list_between_pil_steps():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    pipeline = Compose([lambda img: img.crop((2, 2, 30, 30)), PolicyTransform("trivialaugment"), np.asarray])
    out = pipeline(image)
    assert isinstance(out, np.ndarray) and out.shape == (28, 28, 3) and out.dtype == np.uint8
