import math

import pytest

from awsaug_cli.space import AWS36, KINDS, space_named

# docs/OPS.md, "AWS-36": the 36 ops in canonical index order
EXPECTED_NAMES = (
    "AutoContrast",
    "Brightness_mag0.3",
    "Brightness_mag0.6",
    "Brightness_mag0.9",
    "Color_mag0.3",
    "Color_mag0.6",
    "Color_mag0.9",
    "Contrast_mag0.3",
    "Contrast_mag0.6",
    "Contrast_mag0.9",
    "Equalize",
    "Invert",
    "Posterize_mag4",
    "Posterize_mag5",
    "Posterize_mag7",
    "Rotate_mag10",
    "Rotate_mag20",
    "Rotate_mag30",
    "Sharpness_mag0.3",
    "Sharpness_mag0.6",
    "Sharpness_mag0.9",
    "ShearX_mag0.1",
    "ShearX_mag0.2",
    "ShearX_mag0.3",
    "ShearY_mag0.1",
    "ShearY_mag0.2",
    "ShearY_mag0.3",
    "Solarize_mag0",
    "Solarize_mag171",
    "Solarize_mag85.3",
    "TranslateX_mag0.151",
    "TranslateX_mag0.302",
    "TranslateX_mag0.453",
    "TranslateY_mag0.151",
    "TranslateY_mag0.302",
    "TranslateY_mag0.453",
)


def test_names_and_order_match_the_spec():
    assert AWS36.names == EXPECTED_NAMES
    assert len(AWS36) == 36
    assert list(AWS36.names) == sorted(AWS36.names)


def test_magnitudes_and_kinds():
    assert AWS36[AWS36.index("Solarize_mag171")].magnitude == pytest.approx(256 * 2 / 3)
    assert AWS36[AWS36.index("Solarize_mag85.3")].magnitude == pytest.approx(256 / 3)
    assert AWS36[AWS36.index("TranslateY_mag0.453")].magnitude == pytest.approx(150 / 331)
    assert AWS36[AWS36.index("Posterize_mag5")].magnitude == 5
    assert all(op.kind in KINDS for op in AWS36.ops)
    signed = {op.kind for op in AWS36.ops if op.signed}
    assert signed == {
        "brightness",
        "color",
        "contrast",
        "sharpness",
        "rotate",
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
    }
    assert all(op.magnitude is None for op in AWS36.ops if op.kind in ("autocontrast", "equalize", "invert"))
    assert not any(math.isnan(op.magnitude or 0) for op in AWS36.ops)


def test_lookups_fail_clearly():
    with pytest.raises(KeyError, match="Blur"):
        AWS36.index("Blur")
    assert space_named("aws36") is AWS36
    with pytest.raises(KeyError, match="nope"):
        space_named("nope")
