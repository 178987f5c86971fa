"""Presets: the default follows the device the run trains on, not the machine."""

import pytest
import torch

from awsaug_cli.presets import PRESETS, get_preset


def test_the_default_preset_follows_the_training_device():
    assert get_preset(None, torch.device("cpu")).name == "tiny"  # --device cpu on a GPU machine too
    assert get_preset(None, torch.device("cuda", 1)).name == "paper"


def test_a_named_preset_wins_over_the_default():
    assert get_preset("paper", torch.device("cpu")) is PRESETS["paper"]
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_preset("huge", torch.device("cpu"))
