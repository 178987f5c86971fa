"""Ops that act identically on the data (equivalent_ops.py): found by measuring, judged as one by
awsaug's default search (one column of the critic, tilted together, one probability), refused
on resume when the saved critic was fitted with other groups."""

from __future__ import annotations

import pytest
import torch

from awsaug_cli.errors import UserError
from awsaug_cli.search.critic import Critic
from awsaug_cli.search.critic_agent import CriticAgent
from awsaug_cli.search.equivalent_ops import equivalent_groups, membership, op_actions, unchanged_ops
from awsaug_cli.search.loop import search
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.search.verdict import judge, op_multiples
from awsaug_cli.space import AWS36
from tests.test_contrast import KnownAnswer

K = len(AWS36)
GREY_GROUPS = [["Color_mag0.3", "Color_mag0.6", "Color_mag0.9"], ["Invert", "Solarize_mag0"]]

AWS36_SEARCH = SEARCH_SPACES["aws36"]  # these tests' known answers are AWS-36 ops


def images(grey: bool, count: int = 6) -> torch.Tensor:
    """Random 32×32 pictures with values 20–219 (a full-range random image is already equalized,
    and a small one too few pixels for Equalize to move: either would be another identity)."""
    generator = torch.Generator().manual_seed(0)
    channels = 1 if grey else 3
    pictures = torch.randint(20, 220, (count, channels, 32, 32), dtype=torch.uint8, generator=generator)
    return pictures.expand(count, 3, 32, 32).clone()


def test_grey_images_make_the_color_ops_and_the_inverting_ops_groups():
    assert equivalent_groups(op_actions(images(grey=True), AWS36)) == GREY_GROUPS


def test_on_colour_images_only_the_inverting_ops_coincide():
    assert equivalent_groups(op_actions(images(grey=False), AWS36)) == [["Invert", "Solarize_mag0"]]


def test_membership_puts_each_group_in_one_column_and_every_other_op_alone():
    members = membership(AWS36, GREY_GROUPS)
    assert members.shape == (K, K - 3) and torch.equal(members.sum(dim=1), torch.ones(K, dtype=torch.float64))
    column = members.argmax(dim=1)
    assert column[AWS36.index("Invert")] == column[AWS36.index("Solarize_mag0")]
    assert len({int(column[AWS36.index(name)]) for name in GREY_GROUPS[0]}) == 1
    assert torch.equal(membership(AWS36), torch.eye(K, dtype=torch.float64))


def test_the_critic_gives_grouped_ops_one_estimate_fitted_on_their_summed_use():
    generator = torch.Generator().manual_seed(0)
    truth = torch.randn(K, generator=generator, dtype=torch.float64)
    invert, solarize = AWS36.index("Invert"), AWS36.index("Solarize_mag0")
    truth[solarize] = truth[invert]
    critic = Critic.empty(K, 1e-6, membership(AWS36, [["Invert", "Solarize_mag0"]]))
    for _ in range(40):
        rates = 2 / K * (1 + 0.5 * torch.randn(4, K, generator=generator, dtype=torch.float64))
        critic.add(rates, rates @ truth + 0.001 * torch.randn(4, generator=generator, dtype=torch.float64))
    effects, errors = critic.effects(), critic.errors()
    assert effects[invert] == effects[solarize] and errors[invert] == errors[solarize]
    torch.testing.assert_close(effects, truth, atol=0.05, rtol=0)


def test_the_default_search_ends_with_one_probability_for_ops_judged_as_one():
    agent = CriticAgent(4, search_space=AWS36_SEARCH, seed=0, equivalent=GREY_GROUPS)
    tilts = agent.explore()[0].first_logits
    assert tilts[AWS36.index("Invert")] == tilts[AWS36.index("Solarize_mag0")]  # tilted together
    result = search(KnownAnswer(0), loops=12, trajectories=4, seed=0, agent=agent)
    multiples = op_multiples(result.answer)
    assert multiples["Invert"] == multiples["Solarize_mag0"] and multiples["Rotate_mag30"] < 1
    verdict = judge(result.answer, result.history, equivalent=GREY_GROUPS)
    assert verdict.equivalent == GREY_GROUPS and verdict.gauge_tied
    assert any("Invert = Solarize_mag0" in line for line in verdict.lines())
    apart = judge(result.answer, result.history)  # refitted with every op apart: two estimates
    assert apart.effects["Invert"] != apart.effects["Solarize_mag0"]


def test_a_state_fitted_with_other_groups_is_refused():
    saved = CriticAgent(4, search_space=AWS36_SEARCH, seed=0, equivalent=GREY_GROUPS)
    with pytest.raises(UserError, match="columns"):
        CriticAgent(4, search_space=AWS36_SEARCH, seed=0).load_state(*saved.state())


def test_the_ops_that_leave_the_data_unchanged_are_measured():
    trivial = SEARCH_SPACES["trivialaugment"].space
    grey, colour = images(grey=True), images(grey=False)
    on_grey = unchanged_ops(op_actions(grey, trivial), grey)
    on_colour = unchanged_ops(op_actions(colour, trivial), colour)
    for unchanged in (on_grey, on_colour):  # every family's zero magnitude, and Identity
        assert {"Identity", "Rotate_mag0", "Brightness_mag0", "Color_mag0", "Posterize_mag8"} <= set(unchanged)
        assert not {"Rotate_mag4.5", "Equalize", "Solarize_mag0"} & set(unchanged)
    assert "Color_mag0.99" in on_grey and "Color_mag0.99" not in on_colour  # colour changes nothing grey
    # pixels are 20-219 here: thresholds above 219 invert none, measured as doing nothing
    assert "Solarize_mag221" in on_grey and "Solarize_mag212.5" not in on_grey
    assert unchanged_ops(op_actions(grey, AWS36), grey) == GREY_GROUPS[0]  # the paper's ops: only Color, on grey
