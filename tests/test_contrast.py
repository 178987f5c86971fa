"""awsaug's default search (critic_agent.py, critic.py) and the verdict (verdict.py): the critic
recovers known effects, twins explore balanced contrasts, the state resumes exactly, and on a
small synthetic known-answer task the search pushes the harmful ops down where the paper's
algorithm at the same budget does not — and says it found nothing when there is nothing."""

from __future__ import annotations

import json
import math

import pytest
import torch

from awsaug_cli.policy import Policy
from awsaug_cli.search.critic import Critic, op_rates
from awsaug_cli.search.critic_agent import CriticAgent, CriticSettings, critic_policy, split_directions
from awsaug_cli.search.loop import Trial, search
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.search.verdict import (
    critic_from_history,
    judge,
    kl_from_start,
    op_multiples,
    strongest_evidence,
    with_error,
)
from awsaug_cli.space import AWS36

K = len(AWS36)
HARMFUL = (AWS36.index("Rotate_mag30"), AWS36.index("Posterize_mag4"))

AWS36_SEARCH = SEARCH_SPACES["aws36"]  # these tests' known answers are AWS-36 ops


class KnownAnswer:
    """Reward = 80 − `harm` points per unit share of pairs holding a harmful op, plus noise: the
    linear stand-in for a fine-tune, at the tiny preset's noise level (±0.3 points)."""

    def __init__(self, seed: int, harm: float = 20.0, noise: float = 0.3) -> None:
        self.harm, self.noise = harm, noise
        self.generator = torch.Generator().manual_seed(1000 + seed)

    def __call__(self, policy: Policy, loop: int, trajectory: int, generator: torch.Generator) -> Trial:
        pairs = policy.sample(4000, generator)
        share = torch.isin(pairs, torch.tensor(HARMFUL)).any(dim=1).double().mean()
        reward = (
            80
            - self.harm * float(share)
            + self.noise * float(torch.randn((), generator=self.generator, dtype=torch.float64))
        )
        return Trial(reward, torch.bincount(pairs[:, 0] * K + pairs[:, 1], minlength=K * K).view(K, K))


def test_the_critic_recovers_linear_effects_from_within_loop_differences():
    generator = torch.Generator().manual_seed(0)
    truth = torch.randn(K, generator=generator, dtype=torch.float64) * 3
    critic = Critic.empty(K, ridge=1e-6)
    for loop in range(60):
        rates = 2 / K * (1 + 0.5 * torch.randn(4, K, generator=generator, dtype=torch.float64))
        rewards = 50 + loop + rates @ truth + 0.002 * torch.randn(4, generator=generator, dtype=torch.float64)
        critic.add(rates, rewards)  # the loop offset (50 + loop) cancels within the loop
    torch.testing.assert_close(critic.effects(), truth, atol=0.05, rtol=0)
    assert critic.noise() == pytest.approx(0.002, rel=0.3)
    assert (critic.errors() < 0.02).all() and critic.evidence_threshold() > 3


def test_op_rates_count_both_places_per_image():
    usage = torch.zeros(1, K, K, dtype=torch.int64)
    usage[0, 2, 5], usage[0, 2, 2] = 3, 1
    rates = op_rates(usage)[0]
    assert rates[2] == 1.25 and rates[5] == 0.75 and float(rates.sum()) == 2.0


def test_twins_tilt_a_balanced_half_of_the_ops_in_opposite_directions():
    directions = split_directions(3, K, torch.Generator().manual_seed(0))
    assert (directions.sum(dim=1) == 0).all() and set(directions.unique().tolist()) == {-1.0, 1.0}
    agent = CriticAgent(5, CriticSettings(tilt=0.5), AWS36_SEARCH, seed=3)
    explored = agent.explore()
    assert len(explored) == 5 and torch.equal(explored[4].joint(), Policy.uniform().joint())
    up, down = explored[0].first_logits, explored[1].first_logits
    torch.testing.assert_close(up, -down)  # around the uniform start
    assert set(up.abs().tolist()) == {0.5}
    assert torch.equal(agent.explore()[0].first_logits, up)  # seeded by (seed, loop)
    assert not torch.equal(CriticAgent(5, search_space=AWS36_SEARCH, seed=4).explore()[0].first_logits, up)
    search(KnownAnswer(0), loops=15, trajectories=5, seed=3, agent=agent)
    evident = agent.critic.evident()
    assert set(evident.nonzero().flatten().tolist()) == set(HARMFUL)  # proven: the harmful ops, nothing else
    centre = agent.explore()[4].first_logits
    torch.testing.assert_close(centre[evident], agent.policy().first_logits[evident])  # held where proven …
    assert (centre[~evident] == 0).all()  # … the rest explored around uniform
    assert set((agent.explore()[0].first_logits - centre)[~evident].abs().tolist()) == {0.5}


def test_the_policy_is_the_critics_gain_shrunk_by_its_evidence_and_traded_against_distance_from_uniform():
    agent = CriticAgent(4, CriticSettings(temperature=10.0, shrinkage=1.0), AWS36_SEARCH, seed=0)
    assert torch.equal(agent.policy().first_logits, torch.zeros(K, dtype=torch.float64))  # no evidence yet
    search(KnownAnswer(0), loops=12, trajectories=4, seed=0, agent=agent)
    beta, errors, doubt = agent.critic.effects(), agent.critic.errors(), agent.critic.doubt()
    assert 1 < doubt < 3  # 12 loops: some residual freedom, not much
    first, second = agent.policy().probs()
    torch.testing.assert_close(first, torch.softmax(beta**3 / (beta**2 + (doubt * errors) ** 2) / 10, 0))
    torch.testing.assert_close(second, first.repeat(K, 1))  # op2 does not depend on op1
    assert op_multiples(agent.policy())["Rotate_mag30"] < 1


def test_contrast_state_round_trip_continues_exactly():
    straight = search(KnownAnswer(0), loops=4, trajectories=4, seed=0, space=AWS36_SEARCH)
    evaluator = KnownAnswer(0)  # one noise stream, continued across the interruption
    first = CriticAgent(4, search_space=AWS36_SEARCH, seed=0)
    search(evaluator, loops=2, trajectories=4, seed=0, agent=first)
    resumed = CriticAgent(4, search_space=AWS36_SEARCH, seed=0)
    resumed.load_state(*first.state())
    result = search(evaluator, loops=4, trajectories=4, seed=0, agent=resumed)
    assert resumed.loop == 4
    assert torch.equal(result.answer.first_logits, straight.answer.first_logits)


def test_the_critic_refitted_from_the_history_is_the_searchs_own():
    """The verdict and the benchmarks refit the critic from history.jsonl: it must give the
    search's answer exactly, not one rounded through float32."""
    result = search(KnownAnswer(0), loops=6, trajectories=4, seed=0, space=AWS36_SEARCH)
    records = json.loads(json.dumps(result.history))  # as written to and read from the file
    refitted = critic_from_history(records, AWS36)
    answer = critic_policy(refitted, CriticSettings(), AWS36_SEARCH)
    assert torch.equal(answer.first_logits, result.answer.first_logits)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_answer_the_default_pushes_harmful_ops_below_half_of_uniform(seed):
    default = search(KnownAnswer(seed), loops=30, trajectories=4, seed=seed, space=AWS36_SEARCH)
    faithful = search(KnownAnswer(seed), loops=30, trajectories=4, seed=seed, algorithm="ppo")
    names = [AWS36.names[i] for i in HARMFUL]
    for name in names:
        assert op_multiples(default.answer)[name] <= 0.5
        assert op_multiples(faithful.answer)[name] > 0.5  # the paper's update at this budget and noise
    verdict = judge(default.answer, default.history)
    assert set(verdict.evident) == set(names) and all(z < 0 for z in verdict.evident.values())  # no false finding
    assert verdict.gauge_gap < judge(faithful.answer, faithful.history).gauge_gap or verdict.gauge_gap < 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_pure_noise_the_verdict_says_nothing_was_found(seed):
    result = search(KnownAnswer(seed, harm=0.0), loops=30, trajectories=4, seed=seed, space=AWS36_SEARCH)
    verdict = judge(result.answer, result.history)
    assert not verdict.found and verdict.evident == {}
    assert "nothing distinguishable from noise" in verdict.lines()[0]
    assert kl_from_start(result.answer) < 0.05


def test_the_verdict_without_recorded_op_use_says_so():
    verdict = judge(Policy.uniform(), [{"kind": "trajectory", "loop": 0, "reward": 90.0}])
    assert verdict.effects is None and not verdict.found and "no op use" in verdict.lines()[0]
    assert verdict.kl == pytest.approx(0.0, abs=1e-9) and verdict.gauge_gap == pytest.approx(0.0)
    assert all(math.isclose(m, 1.0) for m in verdict.multiples.values())


def test_rewards_that_never_vary_show_no_evidence_and_the_verdict_still_reads():
    """Accuracy on a few validation images can give every trajectory the same reward: errors of
    zero, which once made every op 'evident' and the verdict divide by zero."""
    generator = torch.Generator().manual_seed(0)
    critic = Critic.empty(len(AWS36), ridge=1e-3)
    records = []
    for loop in range(40):
        rates = op_rates(torch.randint(0, 3, (4, len(AWS36), len(AWS36)), generator=generator))
        critic.add(rates, torch.full((4,), 80.0))
        records += [
            {"kind": "trajectory", "loop": loop, "trajectory": t, "reward": 80.0, "op_rates": rates[t].tolist()}
            for t in range(4)
        ]
    assert critic.noise() == 0.0 and not critic.evident().any()
    verdict = judge(Policy.uniform(), records)
    assert verdict.evident == {} and not verdict.found


@pytest.mark.parametrize(
    ("value", "error", "shown"),
    [
        (-1.234, 0.456, "-1.23 ± 0.46"),  # the AWS-36 scale: two decimals as before
        (-0.0123, 0.0021, "-0.0123 ± 0.0021"),  # an op's share in TrivialAugment's space is ~1/430
        (0.5, 0.0, "+0.50 ± 0.00"),  # rewards that never vary
        (0.5, math.nan, "+0.50 ± nan"),
    ],
)
def test_an_effect_is_shown_to_two_significant_digits_of_its_error(value, error, shown):
    """At a fixed two decimals a TrivialAugment-space op's effect once read "-0.01 ± 0.00"."""
    assert with_error(value, error) == shown


def test_the_strongest_evidence_names_a_family_judged_by_one_term_once():
    """A family measured by one strength term gives all its moved ops one z: named once, by the
    family, not as three findings about three angles; distinct z stay per op."""
    z = {
        "Rotate_mag0": 0.0,  # does nothing: no column, z 0
        "Rotate_mag9": -3.8,
        "Rotate_mag18": -3.8,
        "Solarize_mag0": 2.0,
        "Solarize_mag128": 5.1,
        "Equalize": 1.0,
        "Identity": 0.0,
    }
    assert strongest_evidence(z) == [("Solarize_mag128", 5.1), ("Rotate", -3.8), ("Equalize", 1.0)]
    assert strongest_evidence(z, shown=1) == [("Solarize_mag128", 5.1)]
