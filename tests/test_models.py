import pytest
import torch
from torch import nn

from awsaug_cli.models import MODELS, UnknownModelError, build_model


@pytest.mark.parametrize(
    "name,parameters",
    [("tiny", (4e4, 1e5)), ("resnet18", (1.1e7, 1.13e7)), ("wrn-40-2", (2.2e6, 2.3e6)), ("wrn-28-10", (3.6e7, 3.7e7))],
)
def test_registry_builds_every_model(name, parameters):
    model = build_model(name, 7, bn_momentum=0.5)
    count = sum(p.numel() for p in model.parameters())
    assert parameters[0] <= count <= parameters[1]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.5 for m in norms)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)


def test_initialisation_follows_the_seed_and_kaiming_fan_out():
    a, b, c = build_model("tiny", 10, seed=1), build_model("tiny", 10, seed=1), build_model("tiny", 10, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    conv = build_model("resnet18", 10).stages[0].conv1.weight
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="resnet1000"):
        build_model("resnet1000", 10)
    assert set(MODELS) == {"tiny", "small", "resnet18", "wrn-40-2", "wrn-28-10"}
