"""Policy: probabilities, sampling, and the canonical JSON file with its validation."""

from __future__ import annotations

import json

import pytest
import torch

from awsaug_cli.policy import Policy, PolicyFormatError
from awsaug_cli.space import AWS36


def some_policy(parametrization: str = "sigmoid") -> Policy:
    generator = torch.Generator().manual_seed(0)
    return Policy(torch.randn(36, generator=generator), torch.randn(36, 36, generator=generator), parametrization)


def test_uniform_policy_gives_every_pair_the_same_probability():
    joint = Policy.uniform().joint()
    assert torch.allclose(joint, torch.full((36, 36), 1 / 1296, dtype=torch.float64))


@pytest.mark.parametrize("parametrization", ["sigmoid", "softmax"])
def test_probabilities_follow_the_parametrization(parametrization):
    policy = some_policy(parametrization)
    first, second = policy.probs()
    assert torch.allclose(first.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(second.sum(dim=1), torch.ones(36, dtype=torch.float64))
    weights = torch.sigmoid(policy.first_logits) if parametrization == "sigmoid" else torch.exp(policy.first_logits)
    assert torch.allclose(first, weights / weights.sum())
    assert torch.allclose(policy.joint(), first.unsqueeze(1) * second)


def test_sampling_is_reproducible_and_in_range():
    policy = some_policy()
    a = policy.sample(1000, torch.Generator().manual_seed(1))
    b = policy.sample(1000, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (1000, 2) and a.dtype == torch.int64
    assert a.min() >= 0 and a.max() < 36


def test_save_load_round_trip_keeps_logits_exactly(tmp_path):
    policy = some_policy("softmax")
    path = tmp_path / "policy.json"
    policy.save(path, top_k=10)
    loaded = Policy.load(path)
    assert torch.equal(loaded.first_logits, policy.first_logits)
    assert torch.equal(loaded.second_logits, policy.second_logits)
    assert loaded.parametrization == "softmax"
    data = json.loads(path.read_text())
    assert data["format"] == "awsaug.policy" and data["version"] == 1 and data["space"] == "aws36"
    assert data["ops"] == list(AWS36.names)
    assert len(data["top_pairs"]) == 10
    assert data["top_pairs"][0]["prob"] >= data["top_pairs"][-1]["prob"]
    assert "created" in data["provenance"] and "awsaug_version" in data["provenance"]


def write(tmp_path, data) -> str:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def valid(tmp_path) -> dict:
    path = tmp_path / "good.json"
    some_policy().save(path)
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda d: d.update(format="something.else"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version="1"), "version"),
        (lambda d: d.update(space="aws99"), "space"),
        (lambda d: d["ops"].__setitem__(3, "Blur"), "ops"),
        (lambda d: d["ops"].reverse(), "ops"),
        (lambda d: d.update(parametrization="tanh"), "parametrization"),
        (lambda d: d.pop("first_logits"), "first_logits"),
        (lambda d: d.update(first_logits=[0.0] * 35), "first_logits"),
        (lambda d: d["second_logits"][4].__setitem__(2, "x"), "second_logits"),
        (lambda d: d["second_probs"][0].__setitem__(0, 0.5), "second_probs"),
        (lambda d: d["first_probs"].__setitem__(0, 0.9), "first_probs"),
        (lambda d: d.update(provenance=[1, 2]), "provenance"),
    ],
)
def test_malformed_files_name_the_field(tmp_path, change, field):
    data = valid(tmp_path)
    change(data)
    with pytest.raises(PolicyFormatError, match=field):
        Policy.load(write(tmp_path, data))


def test_nan_logits_are_refused(tmp_path):
    text = json.dumps(valid(tmp_path)).replace('"first_logits": [', '"first_logits": [NaN, ', 1)
    data = json.loads(text)
    data["first_logits"] = data["first_logits"][:36]
    with pytest.raises(PolicyFormatError, match="first_logits.*NaN"):
        Policy.load(write(tmp_path, json.dumps(data)))
    with pytest.raises(PolicyFormatError, match="NaN"):
        Policy(torch.full((36,), float("nan")), torch.zeros(36, 36))


def test_unreadable_files_fail_clearly(tmp_path):
    with pytest.raises(PolicyFormatError, match="no such file"):
        Policy.load(tmp_path / "missing.json")
    with pytest.raises(PolicyFormatError, match="not valid JSON"):
        Policy.load(write(tmp_path, "{not json"))
    with pytest.raises(PolicyFormatError, match="JSON object"):
        Policy.load(write(tmp_path, [1, 2, 3]))


def test_wrong_shapes_in_the_constructor():
    with pytest.raises(PolicyFormatError, match="first_logits"):
        Policy(torch.zeros(35), torch.zeros(36, 36))
    with pytest.raises(PolicyFormatError, match="second_logits"):
        Policy(torch.zeros(36), torch.zeros(36, 35))


def test_saving_replaces_a_file_whole(tmp_path):
    path = tmp_path / "policy.json"
    Policy.uniform().save(path)
    some_policy().save(path)
    assert torch.equal(Policy.load(path).first_logits, some_policy().first_logits)
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]  # no temporary left behind
