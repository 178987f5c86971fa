"""Search quality, measured with the real commands (`awsaug pretrain`, `awsaug search`,
`awsaug train`) on the tasks of known_answer.py, for awsaug's default search and the paper's
(`--faithful`) in the same run. Each part appends its results to a JSON file; `table` prints
them as the Markdown of BENCHMARKS.md "Search quality".

    python benchmarks/search_quality.py known-answer --task digits-tilt --seeds 0 1 2
    python benchmarks/search_quality.py agreement --task digits --seeds 0 1
    python benchmarks/search_quality.py ab --task fashion --seeds 0 1 2
    python benchmarks/search_quality.py table
    python benchmarks/search_quality.py grid        # the default's answers at other T and shrinkage
    python benchmarks/search_quality.py helps-grid  # where RandAugment / TrivialAugment beat none
    python benchmarks/search_quality.py fidelity --task fashion   # Kendall τ: the proxy vs final training
    python benchmarks/search_quality.py fidelity --task fashion-500 --finetune-epochs 40  # longer fine-tunes
    python benchmarks/search_quality.py ab-spaces --task fashion  # answers in aws36 and trivialaugment, several T

known-answer: one pretrain per task, then a search per seed and algorithm from those shared
weights; for each harmful op its multiple of uniform in the answer, its rank among the 36 ops
(1 = lowest), and the loop at which every harmful op first fell below 0.7× and 0.5× uniform.
agreement: the same on data with no known answer: Spearman of the 36 multiples between seeds,
and the twin gauge (Invert vs Solarize_mag0). ab: `awsaug train --compare` of the default
search's answer (seed 0 of agreement) with uniform, none, RandAugment and TrivialAugment, on the
same seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
# this checkout's awsaug for the analyses too, as for the commands (run with cwd=REPO): an installed
# copy elsewhere would refit another checkout's searches with its own critic
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]
from known_answer import TASKS  # noqa: E402

if TYPE_CHECKING:
    from awsaug_cli.policy import Policy

AWSAUG = [sys.executable, "-m", "awsaug_cli"]
MODES = {"default": [], "faithful": ["--faithful"]}  # the known-answer and agreement parts' searches
SPACE_OF_MODE = {"default": "aws36", "faithful": "aws36", "default-ta": "trivialaugment"}  # every search's space
SEARCH_ARGS = {**MODES, "default-ta": []}
THRESHOLDS = (0.7, 0.5)


def run(*args: str) -> float:
    """Run one awsaug command; its wall seconds."""
    start = time.perf_counter()
    subprocess.run([*AWSAUG, *args], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def pretrained(task: str, work: Path, space: str = "aws36") -> tuple[Path, float]:
    """The task's data and shared weights for `space` under `work` (made once); the pretrain's seconds."""
    suffix = "" if space == "aws36" else f"-{space}"
    run_dir = work / task / f"pretrain-run{suffix}"
    record = work / task / f"pretrain-seconds{suffix}.json"
    if not record.exists():
        data = TASKS[task].write(work / "data")
        shutil.rmtree(run_dir, ignore_errors=True)
        epochs = ["--epochs", str(TASKS[task].pretrain_epochs)] if TASKS[task].pretrain_epochs else []
        seconds = run(
            "pretrain",
            "--data",
            data,
            "--run-dir",
            str(run_dir),
            "--space",
            space,
            "--model",
            TASKS[task].model,
            *epochs,
        )
        record.write_text(json.dumps({"seconds": seconds}))
    return run_dir, json.loads(record.read_text())["seconds"]


def searched(
    task: str, work: Path, mode: str, seed: int, loops: int | None = None, tilt: float | None = None
) -> tuple[Path, float]:
    """A search from the task's shared weights (a copy of the pretrain's run directory), of
    `loops` loops (None: the preset's), its twins at `tilt` (None: the default's)."""
    source, _ = pretrained(task, work, SPACE_OF_MODE[mode])
    suffix = ("" if loops is None else f"-loops{loops}") + ("" if tilt is None else f"-tilt{tilt:g}")
    run_dir = work / task / f"{mode}-seed{seed}{suffix}"
    timing = run_dir / "search-seconds.json"
    if not timing.exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(source, run_dir)
        length = [] if loops is None else ["--loops", str(loops)]
        lean = [] if tilt is None else ["--tilt", str(tilt)]
        seconds = run("search", "--run-dir", str(run_dir), "--seed", str(seed), *SEARCH_ARGS[mode], *length, *lean)
        timing.write_text(json.dumps({"seconds": seconds}))
    return run_dir, json.loads(timing.read_text())["seconds"]


def answer_after(records: list[dict], loops: int, settings, recorded: dict) -> "Policy":
    """The default search's answer after `loops` loops of `records`, at `settings`
    (CriticSettings), in the space and with the ops judged as one and measured from as the
    `recorded` search (run.json's "search") had them. At the settings the search ran with,
    exactly its policy; at others, the answer from the same evidence (a search run at them
    would have explored proven ops around a slightly different centre)."""
    from awsaug_cli.search.critic_agent import critic_policy
    from awsaug_cli.search.spaces import SEARCH_SPACES
    from awsaug_cli.search.verdict import critic_from_history

    searched_space = SEARCH_SPACES[recorded.get("space", "aws36")]
    critic = critic_from_history(
        [r for r in records if r.get("loop", 0) < loops],
        searched_space.space,
        settings.ridge,
        recorded.get("equivalent_ops", []),
        recorded.get("unchanged_ops", []),
    )
    return critic_policy(critic, settings, searched_space)


def outcome(run_dir: Path, harmful: tuple[str, ...], mode: str, settings=None) -> dict:
    """What one search gave: the answer's multiples, the harmful ops' ranks, cost to the answer.
    The default mode's answers are recomputed from the history at `settings` (default: the
    ones the search ran with)."""
    from awsaug_cli.policy import Policy
    from awsaug_cli.runs import read_jsonl
    from awsaug_cli.search.critic_agent import CriticSettings
    from awsaug_cli.search.verdict import judge, op_multiples

    history = read_jsonl(run_dir / "search" / "history.jsonl")
    loops = [r for r in history if r["kind"] == "loop"]
    recorded = json.loads((run_dir / "run.json").read_text())["search"]
    equivalent = recorded.get("equivalent_ops", [])
    if recorded["agent"]["algorithm"] == "contrast":
        ran = CriticSettings(**{k: v for k, v in recorded["agent"].items() if k != "algorithm"})
        settings = settings or ran
        per_loop = [op_multiples(answer_after(history, n, settings, recorded)) for n in range(1, len(loops) + 1)]
        answer = answer_after(history, len(loops), settings, recorded)
    else:
        answer = Policy.load(run_dir / "search" / "policy.json")
        names = answer.space.names
        final = Policy.load(run_dir / "search" / "final_policy.json")  # θ after the last loop
        per_loop = [dict(zip(names, r["op_multiples"])) for r in loops[1:]] + [op_multiples(final)]
    multiples = op_multiples(answer)
    order = sorted(multiples, key=multiples.get)
    cost = {}
    for threshold in THRESHOLDS:  # per_loop[L - 1]: the policy after L loops
        reached = [L for L, m in enumerate(per_loop, 1) if harmful and all(m[name] < threshold for name in harmful)]
        cost[str(threshold)] = reached[0] if reached else None
    verdict = judge(answer, history, equivalent=equivalent, unchanged=recorded.get("unchanged_ops", []))
    return {
        "equivalent": equivalent,
        "multiples": multiples,
        "harmful": {name: multiples[name] for name in harmful},
        "ranks": {name: order.index(name) + 1 for name in harmful},
        "loops": len(loops),
        "cost_loops": cost,
        "epochs_per_loop": recorded["trajectories"] * recorded["finetune_epochs"],
        "found": verdict.found,
        "twin_gap": verdict.gauge_gap,  # the results files' key
        "kl": verdict.kl,
        "evident": verdict.evident,
        "mean_reward_first_last": [loops[0]["mean_reward"], loops[-1]["mean_reward"]],
    }


def seed_gap(a: dict[str, float], b: dict[str, float]) -> float:
    """How far apart two seeds put an op, relative to the smaller (0.1 = 10 %), the median over
    the ops: a noise gauge that needs no twin ops."""
    return float(np.median([max(a[n], b[n]) / min(a[n], b[n]) - 1 for n in a]))


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's ρ with tied values given their average rank (the textbook definition): ops the
    answer leaves equal — those that do nothing on the data, or a family held at its start — must
    not be ranked by their position in the op table, which two seeds share."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def known_answer(
    task: str,
    seeds: list[int],
    work: Path,
    settings=None,
    modes: tuple[str, ...] = tuple(MODES),
    loops: int | None = None,
    tilt: float | None = None,
) -> dict:
    spaces = {SPACE_OF_MODE[mode] for mode in modes}
    if len(spaces) != 1:
        raise SystemExit(f"known-answer, agreement: modes of one space at a time (these span {sorted(spaces)})")
    if tilt is not None and "faithful" in modes:
        raise SystemExit("--tilt: the paper's search (mode faithful) has no twins")
    space = spaces.pop()
    harmful = TASKS[task].harmful.get(space, ())
    _, pretrain_seconds = pretrained(task, work, space)
    result = {
        "part": "known-answer",
        "task": task,
        "space": space,
        "harmful": harmful,
        "pretrain_seconds": pretrain_seconds,
        "loops": loops,  # None: the preset's
        "tilt": tilt,  # None: the default search's
        "modes": {},
    }
    for mode, seed in itertools.product(modes, seeds):
        run_dir, seconds = searched(task, work, mode, seed, loops, tilt)
        result["modes"].setdefault(mode, {})[str(seed)] = {
            **outcome(run_dir, harmful, mode, settings),
            "search_seconds": seconds,
        }
    return result


def agreement(
    task: str,
    seeds: list[int],
    work: Path,
    settings=None,
    modes: tuple[str, ...] = tuple(MODES),
    loops: int | None = None,
    tilt: float | None = None,
) -> dict:
    result = known_answer(task, seeds, work, settings, modes, loops, tilt)
    result["part"] = "agreement"
    for mode, runs in result["modes"].items():
        names = list(next(iter(runs.values()))["multiples"])
        pairs = list(itertools.combinations(runs, 2))
        result.setdefault("spearman", {})[mode] = {
            f"{a}-{b}": spearman([runs[a]["multiples"][n] for n in names], [runs[b]["multiples"][n] for n in names])
            for a, b in pairs
        }
        result.setdefault("seed_gap", {})[mode] = {
            f"{a}-{b}": seed_gap(runs[a]["multiples"], runs[b]["multiples"]) for a, b in pairs
        }
    return result


BASELINES = ("none", "uniform", "randaugment", "trivialaugment")  # what a searched policy is compared with


def ab(task: str, seeds: list[int], work: Path, settings=None) -> dict:
    """`awsaug train --compare` of the default search's answer (seed 0) with uniform, none and
    torchvision's RandAugment and TrivialAugment: same data, model, epochs and seeds."""
    searched_run, _ = searched(task, work, "default", 0)
    data = TASKS[task].write(work / "data")
    policy = searched_run / "search" / "policy.json"
    suffix = ""
    if settings is not None:  # the answer at other settings, from the same history
        from awsaug_cli.runs import read_jsonl

        history = read_jsonl(searched_run / "search" / "history.jsonl")
        suffix = f"-T{settings.temperature:g}-c{settings.shrinkage:g}"
        policy = work / task / f"answer{suffix}.json"
        recorded = json.loads((searched_run / "run.json").read_text())["search"]
        answer_after(history, max(r["loop"] for r in history) + 1, settings, recorded).save(policy)
    names = {str(policy): "searched", **{name: name for name in BASELINES}}
    run_dir = work / task / f"compare{suffix}"
    results = run_dir / "train" / "results.jsonl"
    if not results.exists() or len(results.read_text().splitlines()) != len(seeds) * len(names):  # none, or cut short
        shutil.rmtree(run_dir, ignore_errors=True)
        run(
            "train",
            "--compare",
            ",".join(names),
            "--data",
            data,
            "--run-dir",
            str(run_dir),
            "--seed",
            str(seeds[0]),
            "--seeds",
            str(len(seeds)),
            *TASKS[task].train_args(),
        )
    result = {"part": "ab", "task": task, "seeds": seeds, "policies": {}}
    for record in map(json.loads, results.read_text().splitlines()):
        entry = result["policies"].setdefault(names[record["policy"]], {"final_test_acc": []})
        entry["final_test_acc"].append(record["final_test_acc"])
    for entry in result["policies"].values():
        finals = entry["final_test_acc"]
        entry.update(mean=statistics.mean(finals), std=statistics.stdev(finals) if len(finals) > 1 else 0.0)
    return result


# Where does augmentation help on 2 CPU cores? (data, training images, model, epochs), each
# trained as `awsaug train` does with none, RandAugment and TrivialAugment over 3 seeds.
HELPS_GRID = [
    ("digits", 150, "tiny", 200),
    ("digits", 150, "small", 200),
    ("digits", 300, "tiny", 200),
    ("digits", 150, "small", 600),
    ("fashion", 500, "tiny", 600),
    ("digits", 300, "tiny", 600),
]
HELPS_POLICIES = ("none", "randaugment", "trivialaugment")


def helps_grid(work: Path, seeds: list[int], only: str | None = None) -> dict:
    """`awsaug train --compare none,randaugment,trivialaugment` on every HELPS_GRID setting (the
    test set scored once, after the last epoch); for each, whether the best of RandAugment and
    TrivialAugment beats `none` by more than twice the larger seed std."""
    from known_answer import write_digits_subset, write_fashion_subset

    writers = {"digits": write_digits_subset, "fashion": write_fashion_subset}
    result = {"part": "helps-grid", "task": "grid", "seeds": seeds, "settings": []}
    for kind, size, model, epochs in HELPS_GRID:
        name = f"{kind}-{size}-{model}-e{epochs}"
        if only and only not in name:
            continue
        data = writers[kind](work / "data", size)
        run_dir = work / "helps-grid" / name
        results = run_dir / "train" / "results.jsonl"
        timing = run_dir / "seconds.json"
        if not timing.exists():
            shutil.rmtree(run_dir, ignore_errors=True)
            seconds = run(
                "train",
                "--compare",
                ",".join(HELPS_POLICIES),
                "--data",
                data,
                "--model",
                model,
                "--epochs",
                str(epochs),
                "--test-every",
                str(epochs),
                "--run-dir",
                str(run_dir),
                "--seed",
                str(seeds[0]),
                "--seeds",
                str(len(seeds)),
            )
            timing.write_text(json.dumps({"seconds": seconds}))
        policies: dict[str, list[float]] = {}
        for record in map(json.loads, results.read_text().splitlines()):
            policies.setdefault(record["policy"], []).append(record["final_test_acc"])
        stats = {
            name: {"mean": statistics.mean(v), "std": statistics.stdev(v), "finals": v} for name, v in policies.items()
        }
        best = max(("randaugment", "trivialaugment"), key=lambda name: stats[name]["mean"])
        margin = stats[best]["mean"] - stats["none"]["mean"]
        spread = max(stats[best]["std"], stats["none"]["std"])
        result["settings"].append(
            {
                "name": name,
                "policies": stats,
                "best": best,
                "margin": margin,
                "spread": spread,
                "helps": margin > 2 * spread,
                "seconds_per_training": json.loads(timing.read_text())["seconds"] / (3 * len(seeds)),
            }
        )
    return result


HARMFUL_OPS = ("Invert", "Rotate_mag30", "Posterize_mag4", "ShearX_mag0.3")  # a deliberately harmful policy's ops
ANSWER_TEMPERATURES = (1.0, 2.0, 6.0)  # the default's answers recomputed at these from the same history


def evaluated_policies(task: str, work: Path, own_temperature: bool = False) -> tuple[dict[str, str], dict[str, float]]:
    """What ab-spaces and fidelity train and score: name → what `awsaug score` / `train --compare`
    take (built-in names, or files written under `work`) — the baselines, the default search's
    answers (seed 0) in each space at every ANSWER_TEMPERATURES from the same history, the paper's
    answer and a deliberately harmful policy; and each searched answer's KL from its start.
    `own_temperature`: each space's answer at its search's own temperature only (what it returns)."""
    from awsaug_cli.policy import Policy
    from awsaug_cli.runs import read_jsonl
    from awsaug_cli.search.critic_agent import CriticSettings
    from awsaug_cli.search.spaces import SEARCH_SPACES
    from awsaug_cli.search.verdict import kl_from_start
    from awsaug_cli.space import AWS36

    folder = work / task / "answers"
    folder.mkdir(parents=True, exist_ok=True)
    policies = {name: name for name in BASELINES}
    kl = {}
    for mode in ("default", "default-ta"):
        run_dir, _ = searched(task, work, mode, 0)
        history = read_jsonl(run_dir / "search" / "history.jsonl")
        recorded = json.loads((run_dir / "run.json").read_text())["search"]
        loops = max(r["loop"] for r in history) + 1
        ran = recorded["agent"]["temperature"] or SEARCH_SPACES[recorded["space"]].temperature
        for temperature in (ran,) if own_temperature else ANSWER_TEMPERATURES:
            name = f"{recorded['space']} T={temperature:g}"
            answer = answer_after(history, loops, CriticSettings(temperature=temperature), recorded)
            path = folder / f"{recorded['space']}-T{temperature:g}.json"
            answer.save(path)
            policies[name], kl[name] = str(path), kl_from_start(answer)
    faithful_run, _ = searched(task, work, "faithful", 0)
    policies["faithful"] = str(faithful_run / "search" / "policy.json")
    logits = torch.full((len(AWS36),), -10.0, dtype=torch.float64)
    logits[[AWS36.index(name) for name in HARMFUL_OPS]] = 0.0
    harmful = folder / "harmful.json"
    Policy(logits, logits.repeat(len(AWS36), 1), "softmax").save(harmful)
    policies["harmful"] = str(harmful)
    return policies, kl


def final_trainings(
    task: str, seeds: list[int], work: Path, policies: dict[str, str], jobs: int
) -> dict[str, list[float]]:
    """Final-epoch test accuracy per seed of each of `policies` (name → spec), trained as
    `awsaug train --compare` does, in `jobs` comparisons at once (one thread each). A comparison
    cut short continues where it stopped when this runs again."""
    data = TASKS[task].write(work / "data")
    jobs = max(1, min(jobs, len(policies) // 2))  # a comparison takes at least two policies
    chunks = [list(policies.values())[i::jobs] for i in range(jobs)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"} if jobs > 1 else None
    processes = [
        subprocess.Popen(
            [
                *AWSAUG,
                "train",
                "--compare",
                ",".join(chunk),
                "--data",
                data,
                "--run-dir",
                str(work / task / "final" / f"part{index}"),
                "--seed",
                str(seeds[0]),
                "--seeds",
                str(len(seeds)),
                *TASKS[task].train_args(),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            env=environment,
        )
        for index, chunk in enumerate(chunks)
        if chunk
    ]
    if any(process.wait() for process in processes):
        raise RuntimeError("a final-training comparison failed")
    names = {spec: name for name, spec in policies.items()}
    rows = {}
    for results in sorted((work / task / "final").glob("part*/train/results.jsonl")):
        for record in map(json.loads, results.read_text().splitlines()):
            if record["policy"] in names and record["seed"] in seeds:
                rows[names[record["policy"]], record["seed"]] = record["final_test_acc"]
    return {name: [rows[name, seed] for seed in seeds] for name in policies}


def fidelity(
    task: str,
    seeds: list[int],
    work: Path,
    settings=None,
    repeats: int = 3,
    jobs: int = 2,
    own_temperature: bool = False,
    finetune_epochs: int | None = None,
) -> dict:
    """Kendall τ between the proxy's ranking (`awsaug score`, `repeats` fine-tunes each of
    `finetune_epochs` (None: a default search's, lengthened on little data), from the task's
    shared weights of each space) and final training's (the seeds' mean final-epoch test
    accuracy) over evaluated_policies."""
    from scipy.stats import kendalltau

    policies, _ = evaluated_policies(task, work, own_temperature)
    finals = final_trainings(task, seeds, work, policies, jobs)
    weights = {}
    for space in dict.fromkeys(SPACE_OF_MODE.values()):
        source, _ = pretrained(task, work, space)
        folder = work / task / "fidelity"
        folder.mkdir(parents=True, exist_ok=True)
        length = "" if finetune_epochs is None else f"-e{finetune_epochs}"
        scores = folder / ("scores" + ("" if space == "aws36" else f"-{space}") + f"{length}.json")
        if not scores.exists():
            run_dir = folder / f"score-run-{space}{length}"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.copytree(source, run_dir)
            epochs = [] if finetune_epochs is None else ["--finetune-epochs", str(finetune_epochs)]
            run(
                "score",
                *policies.values(),
                "--run-dir",
                str(run_dir),
                "--repeats",
                str(repeats),
                *epochs,
                "--json",
                str(scores),
            )
        proxy = {name: record for name, record in zip(policies, json.loads(scores.read_text()))}
        rows = {
            name: {
                "proxy": proxy[name]["reward"],
                "proxy_error": proxy[name]["error"],
                "final": statistics.mean(finals[name]),
                "final_std": statistics.stdev(finals[name]),
            }
            for name in policies
        }
        tau = kendalltau([rows[n]["proxy"] for n in policies], [rows[n]["final"] for n in policies]).statistic
        weights[space] = {"unit": proxy["none"]["unit"], "policies": rows, "kendall_tau": float(tau)}
    return {
        "part": "fidelity",
        "task": task,
        "seeds": seeds,
        "repeats": repeats,
        "finetune_epochs": finetune_epochs,
        "weights": weights,
    }


def ab_spaces(
    task: str, seeds: list[int], work: Path, settings=None, jobs: int = 2, own_temperature: bool = False
) -> dict:
    """Final training of the default search's answers in each space, at every
    ANSWER_TEMPERATURES, beside none, uniform, RandAugment, TrivialAugment, the paper's answer and
    a harmful policy (the same trainings as fidelity's); and each answer's KL from its start."""
    policies, kl = evaluated_policies(task, work, own_temperature)
    finals = final_trainings(task, seeds, work, policies, jobs)
    return {
        "part": "ab-spaces",
        "task": task,
        "seeds": seeds,
        "policies": {
            name: {
                "final_test_acc": values,
                "kl": kl.get(name),
                "mean": statistics.mean(values),
                "std": statistics.stdev(values),
            }
            for name, values in finals.items()
        },
    }


def table(results: list[dict]) -> str:
    """The Markdown of BENCHMARKS.md "Search quality" from the results file."""
    lines = []
    for r in results:
        if r["part"] in ("known-answer", "agreement"):
            lines += [
                f"\n**{r['part']}: {r['task']}, {r.get('space', 'aws36')} space** "
                f"(pretrain {r['pretrain_seconds']:.0f} s)\n",
                "| mode | seed | "
                + "".join(f"{h} × uniform (rank) | " for h in r["harmful"])
                + "loops to < 0.7× / < 0.5× | twin gap | KL (nats) | evidence found | search s |",
                "|---|---|" + "---|" * len(r["harmful"]) + "---|---|---|---|---|",
            ]
            for mode, runs in r["modes"].items():
                for seed, o in runs.items():
                    cost = " / ".join(
                        "—" if o["cost_loops"][str(t)] is None else str(o["cost_loops"][str(t)]) for t in THRESHOLDS
                    )
                    gap = "—" if o["twin_gap"] is None else f"{100 * o['twin_gap']:.0f} %"  # no twin ops in the space
                    lines.append(
                        f"| {mode} | {seed} | "
                        + "".join(f"{o['harmful'][h]:.2f} ({o['ranks'][h]}) | " for h in r["harmful"])
                        + f"{cost if r['harmful'] else 'n/a'} | {gap} | {o['kl']:.2f} | "
                        f"{'yes' if o['found'] else 'no'} | {o['search_seconds']:.0f} |"
                    )
            for mode, values in r.get("spearman", {}).items():
                lines.append(
                    f"\nSpearman of the op multiples between seeds, {mode}: "
                    + ", ".join(f"{pair} {value:.3f}" for pair, value in values.items())
                )
            for mode, values in r.get("seed_gap", {}).items():
                lines.append(
                    f"\nMedian gap between the seeds' op multiples, {mode}: "
                    + ", ".join(f"{pair} {100 * value:.0f} %" for pair, value in values.items())
                )
        elif r["part"] == "ab-spaces":
            lines += [
                f"\n**A/B, the default's answers in each space: {r['task']}**, `awsaug train`, seeds {r['seeds']}\n",
                "| policy | KL from its start (nats) | final-epoch test acc (mean ± std) | per seed |",
                "|---|---|---|---|",
            ]
            for name, p in r["policies"].items():
                kl = "—" if p["kl"] is None else f"{p['kl']:.3f}"
                lines.append(
                    f"| {name} | {kl} | {p['mean']:.2f} ± {p['std']:.2f} | "
                    f"{', '.join(f'{a:.2f}' for a in p['final_test_acc'])} |"
                )
        elif r["part"] == "fidelity":
            for space, w in r.get("weights", {"aws36": r}).items():  # records before both weights: aws36's
                lines += [
                    f"\n**Proxy fidelity: {r['task']}, {space} shared weights** — Kendall τ = "
                    f"{w['kendall_tau']:.2f} (proxy: {r['repeats']} fine-tunes each"
                    + (f" of {r['finetune_epochs']} epochs" if r.get("finetune_epochs") else "")
                    + f"; final: seeds {r['seeds']})\n",
                    f"| policy | proxy reward ({w['unit']}) | proxy rank | final-epoch test acc | final rank |",
                    "|---|---|---|---|---|",
                ]
                by_proxy = sorted(w["policies"], key=lambda n: -w["policies"][n]["proxy"])
                by_final = sorted(w["policies"], key=lambda n: -w["policies"][n]["final"])
                for name, row in w["policies"].items():
                    lines.append(
                        f"| {name} | {row['proxy']:.2f} ± {row['proxy_error']:.2f} | {by_proxy.index(name) + 1} | "
                        f"{row['final']:.2f} ± {row['final_std']:.2f} | {by_final.index(name) + 1} |"
                    )
        elif r["part"] == "helps-grid":
            lines += [
                f"\n**Where augmentation helps** (final-epoch test accuracy, mean ± std over seeds {r['seeds']})\n",
                "| setting | none | RandAugment | TrivialAugment | best − none | 2 × larger std | "
                "helps | s per training |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for row in r["settings"]:
                cells = [f"{row['policies'][p]['mean']:.2f} ± {row['policies'][p]['std']:.2f}" for p in HELPS_POLICIES]
                lines.append(
                    f"| {row['name']} | " + " | ".join(cells) + f" | {row['margin']:+.2f} | {2 * row['spread']:.2f} | "
                    f"{'yes' if row['helps'] else 'no'} | {row['seconds_per_training']:.0f} |"
                )
        elif r["part"] == "ab":
            lines += [
                f"\n**A/B: {r['task']}**, `awsaug train`, seeds {r['seeds']}\n",
                "| policy | final-epoch test acc (mean ± std) | per seed |",
                "|---|---|---|",
            ]
            for name, p in r["policies"].items():
                lines.append(
                    f"| {name} | {p['mean']:.2f} ± {p['std']:.2f} | "
                    f"{', '.join(f'{a:.2f}' for a in p['final_test_acc'])} |"
                )
    return "\n".join(lines)


def grid(work: Path, temperatures: list[float], shrinkages: list[float]) -> str:
    """How the default's answers on every finished run in `work` depend on the temperature and
    the shrinkage, from the same histories (answer_after). Per setting:
    the worst harmful op (× uniform, over seeds) per known-answer task, and on the tasks with
    no known answer the largest twin gap and the smallest Spearman between seeds."""
    from awsaug_cli.search.critic_agent import CriticSettings

    tasks = sorted(p.name for p in work.iterdir() if (p / "default-seed0" / "search-seconds.json").exists())
    header = (
        "| T | c | "
        + " | ".join(
            f"{t}: {'worst harmful ×' if TASKS[t].harmful.get('aws36') else 'twin gap / Spearman'}" for t in tasks
        )
        + " |"
    )
    lines = [header, "|---|---|" + "---|" * len(tasks)]
    for temperature, shrinkage in itertools.product(temperatures, shrinkages):
        settings = CriticSettings(temperature=temperature, shrinkage=shrinkage)
        cells = []
        for task in tasks:
            runs = sorted(work.glob(f"{task}/default-seed*/search-seconds.json"))
            outcomes = [outcome(r.parent, TASKS[task].harmful.get("aws36", ()), "default", settings) for r in runs]
            if TASKS[task].harmful.get("aws36"):
                cells.append(f"{max(max(o['harmful'].values()) for o in outcomes):.2f}")
            else:
                names = list(outcomes[0]["multiples"])
                rho = min(
                    spearman([a["multiples"][n] for n in names], [b["multiples"][n] for n in names])
                    for a, b in itertools.combinations(outcomes, 2)
                )
                cells.append(f"{100 * max(o['twin_gap'] for o in outcomes):.0f} % / {rho:.2f}")
        lines.append(f"| {temperature:g} | {shrinkage:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PARTS = {"known-answer": known_answer, "agreement": agreement, "ab": ab, "ab-spaces": ab_spaces, "fidelity": fidelity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=[*PARTS, "table", "grid", "helps-grid"])
    parser.add_argument("--only", help="helps-grid: only the settings whose name contains this")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=list(SEARCH_ARGS),
        default=list(MODES),
        help="known-answer, agreement: the searches to run (of one space: default and faithful, or default-ta)",
    )
    parser.add_argument("--task", choices=list(TASKS))
    parser.add_argument("--loops", type=int, help="known-answer, agreement: loops per search (default: the preset's)")
    parser.add_argument("--tilt", type=float, help="known-answer, agreement: the default searches' twins at this tilt")
    parser.add_argument(
        "--jobs", type=int, default=2, help="ab-spaces, fidelity: final trainings run at once (one thread each)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--own-temperature",
        action="store_true",
        help="ab-spaces, fidelity: each space's answer at its search's temperature only (not recomputed at 1, 2, 6)",
    )
    parser.add_argument(
        "--finetune-epochs", type=int, help="fidelity: the proxy's fine-tunes this long (default: the search's)"
    )
    parser.add_argument("--work", type=Path, default=Path("runs/search-quality"))
    parser.add_argument("--results", type=Path, default=Path("runs/search-quality/results.json"))
    parser.add_argument("--temperature", type=float, help="default search: answers recomputed at this temperature")
    parser.add_argument("--shrinkage", type=float, help="default search: answers recomputed at this shrinkage")
    args = parser.parse_args()
    results = json.loads(args.results.read_text()) if args.results.exists() else []
    if args.part == "table":
        print(table(results))
        return
    if args.part == "grid":
        print(grid(args.work, [5, 8, 12, 20], [1, 2, 3]))
        return
    if args.part == "helps-grid":
        result = helps_grid(args.work, args.seeds, args.only)
        results = [r for r in results if r["part"] != "helps-grid"] + [result]
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1) + "\n")
        print(table([result]))
        return
    if args.task is None:
        parser.error(f"{args.part} needs --task")
    for option in ("loops", "tilt"):
        if getattr(args, option) is not None and args.part not in ("known-answer", "agreement"):
            parser.error(f"--{option} is for known-answer and agreement, not {args.part}")
    if args.finetune_epochs is not None and args.part != "fidelity":
        parser.error(f"--finetune-epochs is for fidelity, not {args.part}")
    settings = None
    if args.temperature is not None or args.shrinkage is not None:
        from awsaug_cli.search.critic_agent import CriticSettings

        settings = CriticSettings(
            **{
                name: value
                for name, value in (("temperature", args.temperature), ("shrinkage", args.shrinkage))
                if value is not None
            }
        )
    extra = {}
    if args.part in ("known-answer", "agreement"):
        extra = {"modes": tuple(args.modes), "loops": args.loops, "tilt": args.tilt}
    if args.part in ("ab-spaces", "fidelity"):
        extra = {"jobs": args.jobs, "own_temperature": args.own_temperature}
    if args.part == "fidelity":
        extra["finetune_epochs"] = args.finetune_epochs
    result = PARTS[args.part](args.task, args.seeds, args.work, settings, **extra)
    if settings is not None:
        result["settings"] = {"temperature": settings.temperature, "shrinkage": settings.shrinkage}
    same = ("part", "task", "loops", "tilt", "finetune_epochs")  # a run at other settings is kept beside this one
    results = [r for r in results if [r.get(k) for k in same] != [result.get(k) for k in same]] + [result]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(table([result]))


if __name__ == "__main__":
    main()
