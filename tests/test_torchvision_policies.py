"""RandAugment and TrivialAugment (torchvision_policies.py): every op they can draw, at several
magnitudes and both signs, against the Pillow calls torchvision makes for it (pillow_reference's
tv_ kinds transcribe torchvision's _apply_op and its affine matrix), on every backend that runs
here; the distributions torchvision samples; the built-in names in `train` and `preview`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from awsaug_cli.cli import app
from awsaug_cli.errors import OptionError
from awsaug_cli.kernels.kornia_ops import apply_rows as kornia_apply_rows
from awsaug_cli.kernels.op_params import row_index
from awsaug_cli.kernels.pillow_reference import apply_op
from awsaug_cli.kernels.torch_ops import apply_rows
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.search.verdict import op_multiples
from awsaug_cli.torchvision_policies import IDENTITY, RANDAUGMENT_OPS, randaugment, trivialaugment

from .conftest import SIZES, dali_runs_here, photo_batch

TA_BINS = {0, 10, 30}  # TrivialAugment's bins checked op by op (and every op without a magnitude)


def trivial_cases() -> list[int]:
    """The TrivialAugment ops at the bins of TA_BINS."""
    from awsaug_cli.torchvision_policies import BINS, TRIVIALAUGMENT_OPS, _op

    chosen = set()
    for name, (kind, magnitudes, signed) in TRIVIALAUGMENT_OPS.items():
        values = [None] if magnitudes is None else [magnitudes(BINS, (0, 0))[b] for b in TA_BINS]
        chosen |= {_op(name, kind, value, signed).name for value in values}
    space = trivialaugment().space
    return sorted(space.index(name) for name in chosen)


def pillow(images: torch.Tensor, op, sign: int) -> torch.Tensor:
    out = [np.asarray(apply_op(Image.fromarray(image), op, sign)) for image in images.permute(0, 2, 3, 1).numpy()]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def rows_of(n: int, index: int, sign: int) -> torch.Tensor:
    return row_index(torch.full((n, 1), index), torch.full((n, 1), sign))


def policies(height: int, width: int) -> list[tuple[object, list[int]]]:
    """(policy, op indices to check): RandAugment at M 0, 9 and 30 for this size, TrivialAugment."""
    checks = [(randaugment(2, m, (height, width)), list(range(14))) for m in (0, 9, 30)]
    return checks + [(trivialaugment(), trivial_cases())]


def assert_kornia_close(ours: torch.Tensor, reference: torch.Tensor, kind: str) -> None:
    """kornia works on floats (awsaug_cli/kernels/kornia_ops.py): exact or off by one for the exact kinds and
    torchvision's nearest geometry, the blends within OPS.md's tolerance."""
    diff = (ours.to(torch.int16) - reference.to(torch.int16)).abs()
    if kind in ("color", "contrast", "sharpness", "autocontrast", "equalize"):
        assert (diff <= 1).float().mean() >= 0.995 and diff.max() <= 3
    else:
        assert diff.max() <= 1 and (diff > 0).float().mean() < 0.02


@pytest.mark.parametrize("height,width", SIZES)
def test_torch_backend_equals_torchvisions_pillow_calls_for_every_op(photos, height, width):
    images = photo_batch(photos, height, width)
    for policy, indices in policies(height, width):
        for index in indices:
            op = policy.space[index]
            for sign in (-1, 1):
                reference = pillow(images, op, sign)
                ours = apply_rows(images, rows_of(len(images), index, sign), policy.space)
                assert torch.equal(ours, reference), f"{policy.space.key} {op.name} sign {sign}"
                close = kornia_apply_rows(images, rows_of(len(images), index, sign), policy.space)
                assert_kornia_close(close, reference, op.kind)


@pytest.mark.skipif(not dali_runs_here(), reason="nvidia-dali not installed")
def test_dali_backend_equals_torchvisions_pillow_calls(photos):
    from awsaug_cli.kernels import dali_ops

    images = photo_batch(photos, 28, 28)
    for policy, indices in policies(28, 28):
        cases = [(index, sign) for index in indices for sign in (-1, 1)]
        rows = torch.cat([rows_of(len(images), index, sign) for index, sign in cases])
        ours = dali_ops.apply_rows(images.repeat(len(cases), 1, 1, 1), rows, policy.space)
        for case, (index, sign) in enumerate(cases):
            got = ours[case * len(images) : (case + 1) * len(images)]
            assert torch.equal(got, pillow(images, policy.space[index], sign)), f"{policy.space[index].name} {sign}"


@pytest.mark.triton
def test_triton_backend_equals_torch_for_randaugment_and_trivialaugment(photos):
    from awsaug_cli.kernels import triton_pairs

    images = photo_batch(photos, 28, 28, per_photo=1)[:4]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for policy, indices in ((randaugment(2, 9, (28, 28)), range(14)), (trivialaugment(), trivial_cases()[::3])):
        for index in indices:
            rows = rows_of(len(images), index, 1)
            got = triton_pairs.apply_rows(images.to(device), rows.to(device), policy.space).cpu()
            assert torch.equal(got, apply_rows(images, rows, policy.space)), policy.space[index].name


def test_magnitudes_are_torchvisions():
    ra = {op.name: op for op in randaugment(2, 9, (32, 32)).space.ops}
    assert ra["ShearX_mag0.09"].magnitude == pytest.approx(0.09) and ra["Rotate_mag9"].magnitude == pytest.approx(9.0)
    assert ra["Posterize_mag7"].magnitude == 7 and ra["Solarize_mag178.5"].magnitude == pytest.approx(178.5)
    assert ra["TranslateX_mag4.35"].magnitude == pytest.approx(150 / 331 * 32 * 9 / 30, rel=1e-6)
    ta = trivialaugment().space
    assert {op.magnitude for op in ta.ops if op.name.startswith("Posterize")} == {2, 3, 4, 5, 6, 7, 8}
    assert max(op.magnitude for op in ta.ops if op.kind == "rotate") == pytest.approx(135.0)
    assert max(op.magnitude for op in ta.ops if op.kind == "tv_translate_x") == pytest.approx(32.0)


def test_trivialaugment_draws_one_op_uniformly_then_a_bin_and_nothing_else():
    policy = trivialaugment()
    joint = policy.joint()
    identity = policy.space.ops.index(IDENTITY)
    assert float(joint[:, identity].sum()) == pytest.approx(1.0)  # op2 is always Identity
    first = joint.sum(dim=1)
    by_op: dict[str, float] = {}
    for op, p in zip(policy.space.ops, first.tolist()):
        by_op[op.name.split("_mag")[0]] = by_op.get(op.name.split("_mag")[0], 0.0) + p
    assert set(by_op) == set(RANDAUGMENT_OPS) and all(p == pytest.approx(1 / 14) for p in by_op.values())
    rotations = [p for op, p in zip(policy.space.ops, first.tolist()) if op.kind == "rotate"]
    assert len(rotations) == 31 and all(p == pytest.approx(1 / 14 / 31) for p in rotations)


def test_randaugment_draws_n_ops_uniformly_with_replacement():
    two = randaugment(2, 9).joint()
    assert torch.allclose(two, torch.full((14, 14), 1 / 196, dtype=torch.float64))
    one = randaugment(1, 9)
    assert float(one.joint()[:, one.space.ops.index(IDENTITY)].sum()) == pytest.approx(1.0)
    assert all(
        m == pytest.approx(m_first)
        for m, m_first in zip(op_multiples(randaugment(2, 30)).values(), op_multiples(randaugment(2, 0)).values())
    )


@pytest.mark.parametrize(
    "spec",
    [
        "randaugment:3:9",
        "randaugment:2:31",
        "randaugment:x",
        "randaugment:",
        "randaugment:٢:9",
        "trivialaugment:",
        "trivialaugment:1",
    ],
)
def test_a_built_in_name_awsaug_cannot_run_is_refused(spec):
    with pytest.raises(OptionError, match="RandAugment|randaugment|TrivialAugment"):
        resolve_policy(spec)


@pytest.mark.parametrize("policy", ["randaugment", "randaugment:1:5", "trivialaugment"])
def test_train_and_preview_take_the_built_in_names(tmp_path, policy):
    result = CliRunner().invoke(app, ["train", "--policy", policy, "--epochs", "1", "--run-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "train" / "results.jsonl").read_text())["policy"] == policy
    result = CliRunner().invoke(
        app, ["preview", policy, "--out", str(tmp_path / "preview.png"), "--images", "2", "--columns", "2"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "preview.png").read_bytes()[:4] == b"\x89PNG"
