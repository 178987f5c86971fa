"""Exports to other libraries (docs/FORMATS.md): each file loads in its library and runs, states
its coverage and KL, and each exported op does what the canonical op does on a real photo.

Op-by-op check: the canonical result is Pillow's (awsaug_cli/kernels/pillow_reference.py). An exported op
passes if its mean |difference| from the canonical result stays under the library's documented
bound for that kind (TOLERANCES below, measured on this 48×48 photo and rounded up) and, for
signed ops, it is closer to the canonical result of its own sign than to the opposite sign's.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from awsaug_cli.cli import app
from awsaug_cli.formats import approximation, to_albumentations, to_dali, to_fastaa, to_kornia
from awsaug_cli.kernels.pillow_reference import apply_op
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36, Op

RUN = CliRunner()
SIGNED_CASES = [(op, sign) for op in AWS36.ops for sign in ((1, -1) if op.signed else (1,))]


@pytest.fixture(scope="module")
def photo(photos) -> np.ndarray:
    return np.asarray(Image.fromarray(photos[0]).resize((48, 48), Image.BILINEAR))


@pytest.fixture(scope="module")
def peaked() -> Policy:
    generator = torch.Generator().manual_seed(3)
    return Policy(3 * torch.randn(36, generator=generator), 3 * torch.randn(36, 36, generator=generator))


def canonical(photo: np.ndarray, op: Op, sign: int) -> np.ndarray:
    return np.asarray(apply_op(Image.fromarray(photo), op, sign)).astype(np.int64)


def check_op(photo: np.ndarray, op: Op, sign: int, got: np.ndarray, bound: float) -> float:
    """The op-by-op rule of the module docstring; returns the mean |difference|."""
    expected = canonical(photo, op, sign)
    difference = float(np.abs(got.astype(np.int64) - expected).mean())
    assert difference <= bound, f"{op.name} sign {sign:+d}: mean |diff| {difference:.3f} > {bound}"
    if op.signed:
        opposite = float(np.abs(got.astype(np.int64) - canonical(photo, op, -sign)).mean())
        assert difference < opposite, (
            f"{op.name} sign {sign:+d}: closer to the opposite sign ({opposite:.3f} ≤ {difference:.3f})"
        )
    return difference


# ---------------------------------------------------------------- what an export keeps


def test_top_k_renormalised_states_coverage_and_kl(peaked):
    joint = peaked.joint().flatten()
    kept = approximation.keep_top(peaked, 7)
    top = joint.sort(descending=True).values[:7]
    assert len(kept.pairs) == 7
    assert kept.coverage == pytest.approx(float(top.sum()))
    assert kept.kl == pytest.approx(-math.log(kept.coverage))  # renormalised truncation
    assert sum(pair.weight for pair in kept.pairs) == pytest.approx(1.0)
    assert [joint[pair.op1 * 36 + pair.op2].item() for pair in kept.pairs] == pytest.approx(top.tolist())
    everything = approximation.keep_top(peaked, 36 * 36)
    assert everything.coverage == pytest.approx(1.0) and everything.kl == pytest.approx(0.0, abs=1e-12)


def test_slots_quantise_by_largest_remainder(peaked):
    kept = approximation.keep_top_in_slots(peaked, 10, 100)
    assert sum(pair.slots for pair in kept.pairs) == 100
    renormalised = approximation.keep_top(peaked, 10)
    by_pair = {(p.op1, p.op2): p.weight for p in renormalised.pairs}
    for pair in kept.pairs:
        assert pair.weight == pair.slots / 100
        assert abs(pair.weight - by_pair[(pair.op1, pair.op2)]) < 1 / 100
    joint = peaked.joint().flatten()
    expected_kl = sum(p.weight * math.log(p.weight / joint[p.op1 * 36 + p.op2].item()) for p in kept.pairs)
    assert kept.kl == pytest.approx(expected_kl)
    few = approximation.keep_top_in_slots(Policy.uniform(), 25, 10)  # 25 equal pairs, 10 slots
    assert len(few.pairs) == 10 and few.coverage == pytest.approx(10 / 1296)


def test_sign_expansion_keeps_pair_weights_and_uniform_signs(peaked):
    kept = approximation.keep_top_in_slots(peaked, 5, 20)
    entries = approximation.sign_expanded_subpolicies(peaked, kept, lambda op, sign: (op.name, sign))
    assert len(entries) == 4 * 20
    for pair in kept.pairs:
        first, second = AWS36[pair.op1].name, AWS36[pair.op2].name
        mine = [e for e in entries if e[0][0] == first and e[1][0] == second]
        assert len(mine) == 4 * pair.slots
        assert sum(e[0][1] for e in mine) == 0 and sum(e[1][1] for e in mine) == 0


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("format", ["albumentations", "kornia", "dali", "fastaa"])
def test_cli_exports_state_coverage_and_kl(tmp_path, peaked, format):
    source = tmp_path / "policy.json"
    peaked.save(source)
    out = tmp_path / f"{format}.json"
    result = RUN.invoke(
        app, ["export-policy", str(out), "--from", str(source), "--format", format, "--top-k", "6", "--slots", "50"]
    )
    assert result.exit_code == 0, result.output
    kept = approximation.keep_top(peaked, 6)
    assert f"{100 * kept.coverage:.2f} %" in result.output and "KL(export" in result.output
    assert f"\n{format}: " in result.output and "FormatChoice" not in result.output  # the format by its name
    data = json.loads(out.read_text())
    if format != "fastaa":  # Fast AA reads a bare list: nowhere to store it
        assert data["awsaug"]["coverage"] == pytest.approx(kept.coverage)
        assert data["awsaug"]["kl_export_to_policy_nats"] > 0 and data["awsaug"]["exact"] is False
    # only kornia's file means other images in other releases of its library, and the CLI says for which
    assert ("written for kornia" in result.output) == (format == "kornia")


def test_cli_refuses_bad_slots(tmp_path, peaked):
    peaked.save(tmp_path / "policy.json")
    result = RUN.invoke(
        app,
        [
            "export-policy",
            str(tmp_path / "out.json"),
            "--from",
            str(tmp_path / "policy.json"),
            "--format",
            "kornia",
            "--slots",
            "0",
        ],
    )
    assert result.exit_code == 2 and "--slots" in result.output
    assert not (tmp_path / "out.json").exists()


# ---------------------------------------------------------------- albumentations

ALBUMENTATIONS_TOLERANCES = {
    "autocontrast": 1,
    "brightness": 1,
    "color": 1,
    "contrast": 1,
    "invert": 0,
    "posterize": 0,
    "solarize": 0,
    "equalize": 4,  # its "pil" mode is not Pillow's formula
    "rotate": 0.1,
    "sharpness": 2,  # +: Pillow's kernel, border differs; −: a 3×3 Gaussian
}


def _sheared(photo: np.ndarray, op: Op, sign: int, origin: float, resample, fill: int) -> np.ndarray:
    """Pillow's shear with its origin moved by `origin` pixels along the other axis."""
    factor = sign * op.magnitude
    matrix = (1, factor, -origin, 0, 1, 0) if op.kind == "shear_x" else (1, 0, 0, factor, 1, -origin)
    image = Image.fromarray(photo)
    return np.asarray(image.transform(image.size, Image.AFFINE, matrix, resample, fillcolor=(fill,) * 3)).astype(
        np.int64
    )


def _translated(
    photo: np.ndarray, op: Op, sign: int, extra: float = 0.0, resample=Image.NEAREST, fill: int = 128
) -> np.ndarray:
    """Pillow's translate, its offset moved by `extra` pixels, with the given resampling and fill."""
    offset = sign * op.magnitude * photo.shape[1 if op.kind == "translate_x" else 0] + extra
    matrix = (1, 0, offset, 0, 1, 0) if op.kind == "translate_x" else (1, 0, 0, 0, 1, offset)
    image = Image.fromarray(photo)
    return np.asarray(image.transform(image.size, Image.AFFINE, matrix, resample, fillcolor=(fill,) * 3)).astype(
        np.int64
    )


@pytest.mark.parametrize("op,sign", SIGNED_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_albumentations_op_matches_canonical(photo, op, sign):
    albumentations = pytest.importorskip("albumentations")
    transform = albumentations.from_dict({"transform": to_albumentations.ALBUMENTATIONS_OPS[op.kind](op, sign)})
    got = transform(image=photo)["image"]
    if op.kind.startswith("translate"):
        # OpenCV's nearest rounds the source coordinate down where Pillow rounds it: the offset
        # may differ by one pixel, never more, and the result is otherwise exact.
        assert min(np.abs(got - _translated(photo, op, sign, extra)).max() for extra in (-1, 0, 1)) == 0
    if op.kind.startswith("shear"):
        # albumentations rounds the translation that moves the shear's origin to the corner to
        # whole pixels: the origin lands within half a pixel of Pillow's; with that origin the
        # shear itself matches (bicubic kernels differ: OpenCV a = −0.75).
        shift = sign * op.magnitude * photo.shape[0] / 2
        residuals = [shift - whole for whole in (math.floor(shift), math.ceil(shift))]
        best = min(
            np.abs(got.astype(np.int64) - _sheared(photo, op, sign, r, Image.BICUBIC, 128)).mean() for r in residuals
        )
        assert best <= 2.5 and min(abs(r) for r in residuals) <= 0.5
        return
    bound = 40 if op.kind.startswith("translate") else ALBUMENTATIONS_TOLERANCES[op.kind]
    check_op(photo, op, sign, got, bound)


def test_albumentations_export_loads_and_weights_are_exact(tmp_path, peaked, photo):
    albumentations = pytest.importorskip("albumentations")
    from awsaug_cli.formats import export

    out = tmp_path / "albumentations.json"
    kept = export(peaked, out, "albumentations", top_k=8)
    pipeline = albumentations.load(str(out))
    assert pipeline(image=photo)["image"].shape == photo.shape
    choice = pipeline.transforms[0]
    assert type(choice).__name__ == "OneOf" and len(choice.transforms) == 8
    weights = np.array([child.p for child in choice.transforms])
    assert weights / weights.sum() == pytest.approx([pair.weight for pair in kept.pairs])
    first = choice.transforms[0].transforms  # the most probable pair, in order
    ops = AWS36.ops
    assert [t.to_dict() for t in first] == [
        albumentations.from_dict({"transform": to_albumentations.op_transform(op)}).to_dict()
        for op in (ops[kept.pairs[0].op1], ops[kept.pairs[0].op2])
    ]


# ---------------------------------------------------------------- kornia

KORNIA_TOLERANCES = {
    "autocontrast": 1,
    "equalize": 1,
    "invert": 0,
    "posterize": 0,
    "solarize": 0,
    "sharpness": 1,
}
# By dialect (formats/to_kornia.py): Pillow's enhancements from kornia 0.9.2; before, additive
# brightness, contrast about 0 and HSV saturation share only the direction, so the bound is what
# we measured, rounded up.
KORNIA_ENHANCE_TOLERANCES = {
    "kornia >= 0.9.2": {"brightness": 1, "contrast": 1, "color": 1},
    "kornia < 0.9.2": {"brightness": 80, "contrast": 105, "color": 26},
}


KORNIA_GEOMETRY = {
    "rotate": lambda photo, op, sign: np.asarray(
        Image.fromarray(photo).rotate(sign * op.magnitude, Image.BILINEAR)
    ).astype(np.int64),
    "shear_x": lambda photo, op, sign: _sheared(
        photo, op, sign, sign * op.magnitude * photo.shape[0] / 2, Image.BILINEAR, 0
    ),
    "shear_y": lambda photo, op, sign: _sheared(
        photo, op, sign, sign * op.magnitude * photo.shape[1] / 2, Image.BILINEAR, 0
    ),
    "translate_x": lambda photo, op, sign: _translated(photo, op, sign, resample=Image.BILINEAR, fill=0),
    "translate_y": lambda photo, op, sign: _translated(photo, op, sign, resample=Image.BILINEAR, fill=0),
}


def _kornia_op(op: Op, value: float):
    from kornia.augmentation.auto import operations

    classes = {
        "shear_x": operations.ShearX,
        "shear_y": operations.ShearY,
        "translate_x": operations.TranslateX,
        "translate_y": operations.TranslateY,
        "rotate": operations.Rotate,
    }
    if op.kind in classes:
        return classes[op.kind](None, 1.0, magnitude_range=(value, value), symmetric_megnitude=False)
    ranged = {
        "brightness": operations.Brightness,
        "contrast": operations.Contrast,
        "color": operations.Saturate,
        "sharpness": operations.Sharpness,
        "solarize": operations.Solarize,
        "posterize": operations.Posterize,
    }
    if op.kind in ranged:
        return ranged[op.kind](None, 1.0, magnitude_range=(value, value))
    return {"autocontrast": operations.AutoContrast, "equalize": operations.Equalize, "invert": operations.Invert}[
        op.kind
    ](1.0)


@pytest.mark.parametrize("op,sign", SIGNED_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_kornia_op_matches_canonical(photo, op, sign):
    pytest.importorskip("kornia")
    dialect = to_kornia.dialect_of()
    value = to_kornia.kornia_value(op, sign, dialect)
    module = _kornia_op(op, value)
    batch = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float() / 255
    got = (module(batch)[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    if op.kind in KORNIA_GEOMETRY:
        # kornia's dialect: bilinear, black fill, shear about the centre; with those the op's
        # units and sign must match Pillow's closely.
        expected = KORNIA_GEOMETRY[op.kind](photo, op, sign)
        assert np.abs(got.astype(np.int64) - expected).mean() <= 2.5
    else:
        tolerances = {**KORNIA_TOLERANCES, **KORNIA_ENHANCE_TOLERANCES[dialect.name]}
        check_op(photo, op, sign, got, tolerances[op.kind])
    bin = to_kornia.magnitude_bin(op, sign, dialect)
    if bin is not None:  # the exported bin's interval holds the value kornia would need
        low, high = to_kornia.bin_interval(op, bin)
        assert low - 1e-9 <= value <= high + 1e-9
        if op.kind == "posterize":  # kornia truncates: every value in the bin gives the bit count
            assert int(low) == int(high) == int(op.magnitude)


@pytest.mark.parametrize(
    "version,name",
    [
        ("0.7.0", "kornia < 0.9.2"),
        ("0.9.0", "kornia < 0.9.2"),
        ("0.9.2", "kornia >= 0.9.2"),
        ("0.9.2+cu130", "kornia >= 0.9.2"),
        ("0.10.0rc1", "kornia >= 0.9.2"),
        ("1.0", "kornia >= 0.9.2"),
        ("dev", "kornia >= 0.9.2"),
    ],
)
def test_kornia_dialect_follows_the_release(version, name):
    assert to_kornia.dialect_of(version).name == name


@pytest.mark.parametrize("op", [op for op in AWS36.ops if op.kind in ("shear_x", "shear_y")], ids=lambda op: op.name)
def test_kornia_dialects_shear_by_the_same_angle(op):
    """Before 0.9.2 kornia read shear's value as a fraction of 180 degrees, from 0.9.2 as the
    factor it turns into degrees with atan: both dialects' values are one angle."""
    old, new = to_kornia.dialect_of("0.9.0"), to_kornia.dialect_of("0.9.2")
    for sign in (1, -1):
        old_degrees = 180 * to_kornia.kornia_value(op, sign, old)
        new_degrees = math.degrees(math.atan(to_kornia.kornia_value(op, sign, new)))
        assert old_degrees == pytest.approx(new_degrees)
        assert old_degrees == pytest.approx(sign * math.degrees(math.atan(op.magnitude)))
    assert to_kornia.magnitude_bin(op, 1, old) != to_kornia.magnitude_bin(op, 1, new)


def test_kornia_export_builds_autoaugment(tmp_path, peaked):
    pytest.importorskip("kornia")
    from kornia.augmentation.auto import AutoAugment

    from awsaug_cli.formats import export

    out = tmp_path / "kornia.json"
    kept = export(peaked, out, "kornia", top_k=4, slots=10)
    data = json.loads(out.read_text())
    policy = data["policy"]
    assert len(policy) == 4 * 10
    assert data["awsaug"]["kornia_dialect"] == to_kornia.dialect_of().name
    augment = AutoAugment(policy=policy)
    torch.manual_seed(0)
    assert augment(torch.rand(3, 3, 32, 32)).shape == (3, 3, 32, 32)
    names = {(first[0], second[0]) for first, second in policy}
    expected = {
        (to_kornia.KORNIA_OPS[AWS36[p.op1].kind][0], to_kornia.KORNIA_OPS[AWS36[p.op2].kind][0]) for p in kept.pairs
    }
    assert names == expected


# ---------------------------------------------------------------- DALI

DALI_TOLERANCES = {
    "autocontrast": 1,
    "brightness": 1,
    "color": 1,
    "contrast": 1,
    "invert": 0,
    "posterize": 0,
    "solarize": 0,
    "equalize": 10,  # OpenCV's formula
    "rotate": 0.1,
    "translate_x": 0,
    "translate_y": 0,
    "sharpness": 2,  # border pixels filtered
    "shear_x": 5,
    "shear_y": 5,  # bilinear
}


def _run_dali(policy, images: list[np.ndarray], needs_shape: bool, seed: int = 1) -> list[np.ndarray]:
    from nvidia.dali import fn, pipeline_def
    from nvidia.dali.auto_aug.auto_augment import apply_auto_augment

    @pipeline_def(enable_conditionals=True, batch_size=len(images), num_threads=1, device_id=None, seed=seed)
    def pipeline():
        batch = fn.external_source(source=lambda: images, layout="HWC", batch=True)
        return apply_auto_augment(policy, batch, **({"shape": batch.shape()} if needs_shape else {}))

    built = pipeline()
    built.build()
    (out,) = built.run()
    return [np.asarray(out[i]) for i in range(len(images))]


@pytest.mark.parametrize("op,sign", SIGNED_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_dali_op_matches_canonical(photo, op, sign):
    pytest.importorskip("nvidia.dali")
    from nvidia.dali.auto_aug.core import Policy as DaliPolicy

    augmentation = to_dali.dali_augmentations(randomly_negate=False)[to_dali.DALI_OPS[op.kind][0]]
    dali_sign = sign * to_dali.PILLOW_SIGN.get(op.kind, 1)
    if dali_sign < 0:
        augmentation = augmentation.augmentation(mag_range=tuple(-v for v in augmentation.mag_range))
    policy = DaliPolicy("one op", to_dali.NUM_MAGNITUDE_BINS, [[(augmentation, 1.0, to_dali.magnitude_bin(op))]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # DALI's own experimental aliases
        (got,) = _run_dali(policy, [photo], op.kind.startswith("translate"))
    check_op(photo, op, sign, got, DALI_TOLERANCES[op.kind])


def test_dali_bins_hold_the_magnitudes_exactly():
    import numpy

    for op in AWS36.ops:
        if op.magnitude is None:
            continue
        points = numpy.linspace(*to_dali.MAG_RANGES[op.kind], to_dali.NUM_MAGNITUDE_BINS)
        assert points[to_dali.magnitude_bin(op)] == pytest.approx(op.magnitude, abs=1e-9)


def test_dali_export_builds_a_policy_that_runs_on_cpu(tmp_path, peaked, photo):
    pytest.importorskip("nvidia.dali")
    from awsaug_cli.formats import export

    out = tmp_path / "dali.json"
    kept = export(peaked, out, "dali", top_k=5, slots=20)
    policy = to_dali.load_dali_policy(out)
    assert len(policy.sub_policies) == 20
    assert {(a.name, b.name) for (a, _, _), (b, _, _) in policy.sub_policies} == {
        (to_dali.DALI_OPS[AWS36[p.op1].kind][0], to_dali.DALI_OPS[AWS36[p.op2].kind][0]) for p in kept.pairs
    }
    images = [photo, photo[:40, :44].copy(), photo[::-1].copy()]
    uses_translate = to_dali.uses_shape(policy)
    assert uses_translate == any(
        a.name.startswith("translate") or b.name.startswith("translate") for (a, _, _), (b, _, _) in policy.sub_policies
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = _run_dali(policy, images, uses_translate)
        again = _run_dali(policy, images, uses_translate)
    assert [x.shape for x in first] == [x.shape for x in images]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # same seed, same result


def test_dali_loader_refuses_other_files(tmp_path):
    from awsaug_cli.policy import PolicyFormatError

    (tmp_path / "other.json").write_text('{"policy": []}')
    with pytest.raises(PolicyFormatError, match="not written by"):
        to_dali.load_dali_policy(tmp_path / "other.json")


# ---------------------------------------------------------------- Fast AutoAugment

# Fast AA's own op code, transcribed (FastAutoAugment/augmentations.py, random_mirror off):
# value = level · (high − low) + low, then Pillow with its default nearest resampling, fill 0.
_FASTAA_PILLOW = {
    "ShearX": lambda img, v: img.transform(img.size, Image.AFFINE, (1, v, 0, 0, 1, 0)),
    "ShearY": lambda img, v: img.transform(img.size, Image.AFFINE, (1, 0, 0, v, 1, 0)),
    "TranslateX": lambda img, v: img.transform(img.size, Image.AFFINE, (1, 0, v * img.size[0], 0, 1, 0)),
    "TranslateY": lambda img, v: img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, v * img.size[1])),
    "Rotate": lambda img, v: img.rotate(v),
    "Solarize": lambda img, v: __import__("PIL.ImageOps").ImageOps.solarize(img, v),
    "Posterize": lambda img, v: __import__("PIL.ImageOps").ImageOps.posterize(img, int(v)),
}
FASTAA_RANGES = {
    "ShearX": (-0.3, 0.3),
    "ShearY": (-0.3, 0.3),
    "TranslateX": (-0.45, 0.45),
    "TranslateY": (-0.45, 0.45),
    "Rotate": (-30, 30),
    "Solarize": (0, 256),
    "Posterize": (4, 8),
    "Contrast": (0.1, 1.9),
    "Color": (0.1, 1.9),
    "Brightness": (0.1, 1.9),
    "Sharpness": (0.1, 1.9),
    "AutoContrast": (0, 1),
    "Invert": (0, 1),
    "Equalize": (0, 1),
}
# Fast AA fills with black where awsaug fills with 128, and its shear is nearest: measured, rounded up
FASTAA_TOLERANCES = {"shear_x": 27, "shear_y": 27, "translate_x": 60, "translate_y": 60}


def _fastaa_apply(photo: np.ndarray, name: str, level: float) -> np.ndarray:
    from PIL import ImageEnhance, ImageOps

    low, high = FASTAA_RANGES[name]
    value = level * (high - low) + low
    assert low <= value <= high  # Fast AA asserts its ranges
    image = Image.fromarray(photo)
    enhancers = {
        "Contrast": ImageEnhance.Contrast,
        "Color": ImageEnhance.Color,
        "Brightness": ImageEnhance.Brightness,
        "Sharpness": ImageEnhance.Sharpness,
    }
    plain = {"AutoContrast": ImageOps.autocontrast, "Invert": ImageOps.invert, "Equalize": ImageOps.equalize}
    if name in enhancers:
        return np.asarray(enhancers[name](image).enhance(value))
    if name in plain:
        return np.asarray(plain[name](image))
    return np.asarray(_FASTAA_PILLOW[name](image, value))


@pytest.mark.parametrize("op,sign", SIGNED_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_fastaa_op_matches_canonical(photo, op, sign):
    name, probability, level = to_fastaa.entry(op, sign)
    assert probability == 1.0 and 0.0 <= level <= 1.0
    got = _fastaa_apply(photo, name, level)
    check_op(photo, op, sign, got, FASTAA_TOLERANCES.get(op.kind, 0))


def test_fastaa_export_is_a_bare_list_of_pairs(tmp_path, peaked):
    from awsaug_cli.formats import export

    out = tmp_path / "fastaa.json"
    export(peaked, out, "fastaa", top_k=3, slots=7)
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 4 * 7
    assert all(len(sub) == 2 and all(len(entry) == 3 and entry[0] in FASTAA_RANGES for entry in sub) for sub in data)
