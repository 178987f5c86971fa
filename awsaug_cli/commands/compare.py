"""`awsaug train --compare none,uniform,POLICY …`: several policies trained at the same budget
(epochs, batch, seeds, data), one table and one picture — the comparison a user needs to decide
whether a search was worth it.

Every policy is checked before the first training starts, each training appends its seeds to
<run-dir>/train/results.jsonl as `awsaug train --policy` does, and the table states the
final-epoch test accuracy (mean ± std over seeds) as the headline, the best over epochs only as
labelled reference. A comparison cut short and run again continues it: the trainings
results.jsonl already holds with the same settings (and the same policy content) are taken, not
repeated or duplicated.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path

from awsaug_cli.atomic import atomic_write_bytes
from awsaug_cli.commands.train import TrainOptions, check_enlarge_batch, final_train, new_invocation
from awsaug_cli.errors import OptionError
from awsaug_cli.figures import figure_bytes
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.reporters import Reporter, SilentReporter


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    finals: list[float]  # final-epoch test accuracy per seed
    bests: list[float]  # best over epochs per seed (reference only)
    curves: list[list[float]]  # test accuracy per scored epoch per seed
    epochs: list[int]  # the epochs scored (every one unless --test-every)

    @property
    def mean(self) -> float:
        return statistics.mean(self.finals)

    @property
    def std(self) -> float:
        return statistics.stdev(self.finals) if len(self.finals) > 1 else 0.0


@dataclass(frozen=True)
class Comparison:
    results: list[PolicyResult]
    file: Path  # results.jsonl
    picture: Path


def policy_list(spec: str) -> list[str]:
    """The policies of --compare (comma-separated), each named once."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if len(names) < 2:
        raise OptionError(f"--compare needs at least two policies separated by commas, got {spec!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise OptionError(f"--compare names {', '.join(repeated)} more than once")
    return names


def compare_policies(options: TrainOptions, policies: list[str], reporter: Reporter | None = None) -> Comparison:
    """Train each of `policies` with `options` (its `policy` field is replaced) and compare them."""
    reporter = reporter or SilentReporter()
    for spec in policies:  # a bad file or an impossible --enlarge-batch fails before any training
        check_enlarge_batch(options, resolve_policy(spec))
    options = dataclasses.replace(options, reuse_finished=True, invocation=new_invocation())
    results = []
    for spec in policies:
        reporter.info(f"comparison: training {spec} ({policies.index(spec) + 1} of {len(policies)})")
        outcome = final_train(dataclasses.replace(options, policy=spec), reporter)
        results.append(
            PolicyResult(
                spec,
                outcome.final_accuracies,
                [r["best_test_acc"] for r in outcome.results],
                [r["test_acc_per_epoch"] for r in outcome.results],
                outcome.results[0]["test_epochs"],
            )
        )
    picture = options.run_dir / "train" / "compare.png"
    atomic_write_bytes(picture, comparison_picture(results))
    return Comparison(results, options.run_dir / "train" / "results.jsonl", picture)


def comparison_picture(results: list[PolicyResult]) -> bytes:
    """PNG: final-epoch test accuracy per policy (mean ± std, seeds as dots), and the test
    accuracy per epoch (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, curves) = plt.subplots(1, 2, figsize=(13, 4.5))
    names = [Path(r.policy).name for r in results]
    bars.bar(names, [r.mean for r in results], yerr=[r.std for r in results], capsize=6, color="0.75")
    for index, result in enumerate(results):
        bars.scatter([index] * len(result.finals), result.finals, color="black", s=12, zorder=3)
    low = min(min(r.finals) for r in results)
    high = max(max(r.finals) for r in results)
    bars.set_ylim(low - max(1.0, 0.5 * (high - low)), high + max(1.0, 0.3 * (high - low)))
    bars.set_ylabel("final-epoch test accuracy (%)")
    bars.set_title("final epoch: mean ± std over seeds (dots: seeds)")
    for name, result in zip(names, results):
        curves.plot(
            result.epochs,
            [statistics.mean(values) for values in zip(*result.curves)],
            label=name,
            marker="o",
            markersize=3,
        )
    curves.set_xlabel("epoch")
    curves.set_ylabel("test accuracy (%)")
    curves.set_title("test accuracy per epoch (mean over seeds)")
    curves.legend()
    return figure_bytes(figure)
