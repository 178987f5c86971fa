"""The agent: the update points the right way, clipping and the KL stop act, baselines and
credit are as specified, and the direction test of the issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from awsaug_cli.search.loop import Trial, search
from awsaug_cli.search.paper_agent import PaperAgent, PaperSettings, ppo_objective
from awsaug_cli.space import AWS36

K = len(AWS36)
HARMFUL = [AWS36.index("Invert"), AWS36.index("Solarize_mag0")]


def usage_on(i: int, j: int, count: int = 100) -> torch.Tensor:
    usage = torch.zeros(K, K, dtype=torch.int64)
    usage[i, j] = count
    return usage


def run_loops(agent: PaperAgent, rewards: list[list[float]], usages: torch.Tensor) -> None:
    for loop_rewards in rewards:
        agent.update(torch.tensor(loop_rewards, dtype=torch.float64), usages)


@pytest.mark.parametrize("algorithm", ["ppo", "reinforce"])
def test_positive_advantage_raises_the_pairs_probability_and_negative_lowers_it(algorithm):
    agent = PaperAgent(2, PaperSettings(algorithm=algorithm))
    usages = torch.stack([usage_on(3, 7), usage_on(10, 11)])
    run_loops(agent, [[90.0, 90.0]], usages)  # loop 0: baselines = rewards, no advantage
    before = agent.policy().joint()
    info = agent.update(torch.tensor([95.0, 85.0], dtype=torch.float64), usages)
    after = agent.policy().joint()
    assert info.advantages[0] > 0 > info.advantages[1]
    assert after[3, 7] > before[3, 7]
    assert after[10, 11] < before[10, 11]


def test_loop_zero_sets_the_baselines_and_then_an_ema_comes_first():
    agent = PaperAgent(2, PaperSettings(initial_baseline_weight=0.0))
    usages = torch.stack([usage_on(0, 0), usage_on(1, 1)])
    first = agent.update(torch.tensor([80.0, 90.0], dtype=torch.float64), usages)
    assert first.baselines == [80.0, 90.0] and first.advantages == [0.0, 0.0]
    second = agent.update(torch.tensor([90.0, 90.0], dtype=torch.float64), usages)
    assert second.baselines == pytest.approx([81.0, 90.0])
    assert second.advantages == pytest.approx([0.5 * (90 - 81), 0.0])
    with_initial = PaperAgent(2, PaperSettings(initial_baseline_weight=0.2))
    with_initial.update(torch.tensor([80.0, 90.0], dtype=torch.float64), usages)
    info = with_initial.update(torch.tensor([90.0, 90.0], dtype=torch.float64), usages)
    assert info.advantages == pytest.approx([0.5 * 9 + 0.2 * (90 - 85), 0.2 * (90 - 85)])


def test_credit_is_split_in_proportion_to_use():
    usages = torch.zeros(2, K, K, dtype=torch.int64)
    usages[0, 1, 2], usages[0, 3, 4] = 30, 10
    usages[1, 5, 5] = 7
    credit = PaperAgent.credit(usages, torch.tensor([2.0, -1.0], dtype=torch.float64))
    assert credit[0, 1, 2] == pytest.approx(1.5) and credit[0, 3, 4] == pytest.approx(0.5)
    assert credit[1, 5, 5] == pytest.approx(-1.0)
    assert credit[0].sum() == pytest.approx(2.0) and int((credit != 0).sum()) == 3


def test_the_clip_stops_the_gradient_beyond_one_plus_epsilon():
    old = torch.full((1, K, K), 1.0 / K**2, dtype=torch.float64)
    advantages = torch.zeros(1, K, K, dtype=torch.float64)
    advantages[0, 0, 0] = 1.0
    for ratio, moves in ((1.1, True), (1.3, False)):
        joint = old.clone()
        joint[0, 0, 0] *= ratio
        joint.requires_grad_(True)
        ppo_objective(joint[0], old[0], advantages, clip=0.2).backward()
        assert (joint.grad[0, 0, 0] != 0) == moves


def test_the_kl_early_stop_limits_the_steps():
    usages = torch.stack([usage_on(3, 7), usage_on(10, 11)])
    steps = {}
    for kl_stop in (1e-12, 1.0):
        agent = PaperAgent(2, PaperSettings(kl_stop=kl_stop, warmup_loops=0))
        run_loops(agent, [[90.0, 90.0]], usages)
        steps[kl_stop] = agent.update(torch.tensor([99.0, 80.0], dtype=torch.float64), usages).steps
    assert steps == {1e-12: 1, 1.0: 5}


def test_the_agent_lr_warms_up_over_ten_loops():
    agent = PaperAgent(1)
    assert [agent.lr_for(loop) for loop in (0, 5, 10, 50)] == pytest.approx([0.0125, 0.05625, 0.1, 0.1])


def test_the_best_theta_is_the_one_that_earned_the_best_rewards():
    agent = PaperAgent(1)
    usage = usage_on(2, 2).unsqueeze(0)
    thetas = []
    for reward in (80.0, 95.0, 85.0):
        thetas.append(agent.first.detach().clone())
        agent.update(torch.tensor([reward], dtype=torch.float64), usage)
    assert agent.best_loop == 1 and agent.best_reward == 95.0
    assert torch.equal(agent.best_first, thetas[1])


class Synthetic:
    """reward = 90 − 50·f + N(0, 0.3²), f = share of 2,000 sampled pairs containing a harmful op."""

    def __init__(self, seed: int) -> None:
        self.noise = torch.Generator().manual_seed(seed)

    def __call__(self, policy, loop, trajectory, generator):
        pairs = policy.sample(2000, generator)
        harmful = torch.isin(pairs, torch.tensor(HARMFUL)).any(dim=1).double().mean()
        reward = 90 - 50 * float(harmful) + 0.3 * float(torch.randn((), generator=self.noise, dtype=torch.float64))
        return Trial(reward, torch.bincount(pairs[:, 0] * K + pairs[:, 1], minlength=K * K).view(K, K))


def harmful_mass(policy) -> float:
    joint = policy.joint()
    mask = torch.zeros(K, K, dtype=torch.bool)
    mask[HARMFUL, :] = True
    mask[:, HARMFUL] = True
    return float(joint[mask].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_direction_the_search_moves_away_from_harmful_ops_and_the_inverted_ratio_does_not(seed):
    assert harmful_mass(
        search(Synthetic(seed), loops=1, trajectories=1, seed=seed, algorithm="ppo", max_steps=0).final_policy
    ) == pytest.approx(1 - (34 / 36) ** 2)
    standard = search(Synthetic(seed), loops=30, trajectories=4, seed=seed, algorithm="ppo")
    inverted = search(Synthetic(seed), loops=30, trajectories=4, seed=seed, algorithm="ppo", inverted_ratio=True)
    assert harmful_mass(standard.final_policy) <= 0.08
    assert harmful_mass(inverted.final_policy) > 0.08


def test_agent_state_round_trip_continues_exactly():
    usages = torch.stack([usage_on(3, 7), usage_on(10, 11)])
    rewards = [[90.0, 91.0], [93.0, 88.0], [95.0, 87.0], [92.0, 90.0]]
    straight = PaperAgent(2)
    run_loops(straight, rewards, usages)
    first = PaperAgent(2)
    run_loops(first, rewards[:2], usages)
    tensors, scalars = first.state()
    resumed = PaperAgent(2)
    resumed.load_state(tensors, scalars)
    run_loops(resumed, rewards[2:], usages)
    assert torch.equal(resumed.first.detach(), straight.first.detach())
    assert torch.equal(resumed.second.detach(), straight.second.detach())
    assert resumed.best_loop == straight.best_loop


def test_the_faithful_algorithm_reproduces_the_recorded_theta_history():
    """θ after every loop equals what the code gave before awsaug's default changed (commit a82ce77)."""
    recorded = json.loads((Path(__file__).parent / "data" / "faithful_theta_history.json").read_text())["loops"]
    seen = []
    result = search(
        Synthetic(0),
        loops=5,
        trajectories=4,
        seed=0,
        algorithm="ppo",
        on_loop=lambda agent, records: seen.append((agent.first.detach().clone(), agent.second.detach().clone())),
    )
    assert len(seen) == len(recorded)
    for (first, second), expected in zip(seen, recorded):
        torch.testing.assert_close(first, torch.tensor(expected["first"], dtype=torch.float64), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            second.sum(1), torch.tensor(expected["second_row_sums"], dtype=torch.float64), rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            second.sum(0), torch.tensor(expected["second_column_sums"], dtype=torch.float64), rtol=1e-12, atol=1e-12
        )
    torch.testing.assert_close(
        result.final_policy.second_logits,
        torch.tensor(recorded[-1]["second"], dtype=torch.float64),
        rtol=1e-12,
        atol=1e-12,
    )
