"""Pictures of a run: the search report (rewards, entropy, the pair heat map — in a one-op space
the family × magnitude map —, op-family marginals, each op's probability × the start with its
noise band) and the policy preview (real images, clean and under pairs sampled from a policy).
Pictures are PNG or JPEG as the file's suffix says, written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from awsaug_cli.atomic import atomic_write_bytes, picture_format
from awsaug_cli.errors import OptionError
from awsaug_cli.policy import Policy
from awsaug_cli.run_records import SearchRecord, recorded_search
from awsaug_cli.runs import RunError, read_jsonl
from awsaug_cli.search.critic_agent import shrink
from awsaug_cli.search.proxy_scores import Scores
from awsaug_cli.search.spaces import family, search_space_of
from awsaug_cli.search.verdict import Verdict, judge, op_multiples


def run_report(run_dir: Path, out: Path) -> None:
    """The search report of a run: its history, its answer and final policy (mid-search: the
    state's current policy for both)."""
    from awsaug_cli.formats import import_policy
    from awsaug_cli.search.run_state import read_scores, search_paths, state_policy

    picture_format(out)  # before the work: a name that cannot be written fails now
    paths = search_paths(run_dir)
    if not paths["history"].exists():
        raise RunError(f"{run_dir}: no search history ({paths['history']}); run `awsaug search` first")
    if paths["final"].exists():
        final, answer = import_policy(paths["final"]), import_policy(paths["answer"])
    else:
        final = answer = state_policy(paths["state"])
    search_report(paths["history"], final, answer, out, recorded_search(run_dir), read_scores(paths["scores"]))


def search_report(
    history_file: Path,
    final: Policy,
    answer: Policy,
    out: Path,
    settings: SearchRecord | None = None,
    scores: Scores | None = None,
) -> None:
    """Five panels from search/history.jsonl, the final policy and the answer, and a sixth with
    the closing comparison `scores` when the search made one. `settings` (the search's record in
    run.json) name the reward and, for awsaug's default search, turn the critic's standard errors
    into the noise band."""
    from awsaug_cli.search.rewards import REWARDS

    picture = picture_format(out)
    reward = settings.reward if settings is not None else "accuracy"
    agent = settings.agent if settings is not None else {}
    unit = REWARDS[reward][1]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(history_file)
    loops = [r for r in records if r.get("kind") == "loop"]
    if not loops:
        raise RunError(f"{history_file}: no finished search loop to report")
    figure, axes = plt.subplots(3, 2, figsize=(15, 16))
    rewards_panel(axes[0, 0], loops, reward, unit)
    entropy_panel(axes[0, 1], loops, final)
    searched = search_space_of(final.space)
    if searched is not None and not searched.paired:
        strength_map_panel(figure, axes[1, 0], final, loops[-1]["loop"] + 1)
    else:
        heat_map_panel(figure, axes[1, 0], final, loops[-1]["loop"] + 1)
    kinds_panel(axes[1, 1], loops, plt.cm.tab20)
    grid = axes[2, 0].get_gridspec()
    for axis in axes[2]:
        axis.remove()
    equivalent, unchanged = (settings.equivalent_ops, settings.unchanged_ops) if settings is not None else ((), ())
    verdict = judge(answer, records, unit, equivalent, scores, unchanged)
    if scores is None:
        multiples_panel(figure.add_subplot(grid[2, :]), verdict, agent)
    else:
        row = grid[2, :].subgridspec(1, 3)
        multiples_panel(figure.add_subplot(row[0, :2]), verdict, agent)
        scores_panel(figure.add_subplot(row[0, 2]), scores)

    atomic_write_bytes(out, figure_bytes(figure, picture, dpi=110))


def figure_bytes(figure, picture: str = "png", dpi: int = 100) -> bytes:
    """A matplotlib figure as the file's bytes (written atomically by the caller), the figure closed."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=picture, dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def rewards_panel(axis, loops: list[dict], reward: str, unit: str) -> None:
    """Every trajectory's reward per loop, the loop mean and (the paper's algorithm) the best mean so far."""
    x = [r["loop"] + 1 for r in loops]
    for r in loops:
        axis.scatter([r["loop"] + 1] * len(r["rewards"]), r["rewards"], s=8, color="0.6", zorder=1)
    axis.plot(x, [r["mean_reward"] for r in loops], color="C0", label="mean over trajectories", zorder=2)
    if "best_reward" in loops[-1]:  # the paper's algorithm keeps the best loop's θ
        axis.plot(x, [r["best_reward"] for r in loops], color="C3", linestyle="--", label="best mean so far", zorder=2)
    axis.scatter([], [], s=8, color="0.6", label="trajectory")
    axis.set(title=f"Reward per loop ({reward}, {unit})", xlabel="loop", ylabel=unit)
    axis.legend()


def entropy_panel(axis, loops: list[dict], policy: Policy) -> None:
    axis.plot([r["loop"] + 1 for r in loops], [r["entropy"] for r in loops], color="C2")
    searched = search_space_of(policy.space)
    if searched is not None and not searched.paired:
        start = searched.start().joint()
        level = float(-(start[start > 0] * start[start > 0].log()).sum())
        axis.axhline(level, color="0.5", linestyle=":", label=f"the start ({searched.name})")
    else:
        ops = len(policy.space)
        axis.axhline(2 * math.log(ops), color="0.5", linestyle=":", label=f"uniform over {ops * ops} pairs")
    axis.set(title="Entropy of p(op1, op2)", xlabel="loop", ylabel="nats")
    axis.legend()


def heat_map_panel(figure, axis, policy: Policy, loop: int) -> None:
    names = policy.space.names
    image = axis.imshow(policy.joint().numpy(), cmap="viridis")
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    axis.set_yticks(range(len(names)), names, fontsize=6)
    axis.set(title=f"p(op1, op2) after loop {loop}", xlabel="op2", ylabel="op1")
    figure.colorbar(image, ax=axis, fraction=0.046)


def strength_map_panel(figure, axis, policy: Policy, loop: int) -> None:
    """A one-op space: per op family (rows), each magnitude from weakest to strongest (columns),
    the op's probability × under the start; blank where a family has fewer magnitudes."""
    multiples = op_multiples(policy)
    rows: dict[str, list[tuple[float, float]]] = {}
    for op in policy.space.ops:
        rows.setdefault(family(op.name), []).append(
            (op.magnitude if op.magnitude is not None else 0.0, multiples[op.name])
        )
    width = max(len(values) for values in rows.values())
    grid = np.full((len(rows), width), np.nan)
    for row, values in enumerate(rows.values()):
        grid[row, : len(values)] = [multiple for _, multiple in values]
    image = axis.imshow(grid, cmap="coolwarm_r", norm=matplotlib_log_norm(grid), aspect="auto")
    axis.set_yticks(range(len(rows)), list(rows), fontsize=8)
    axis.set(
        title=f"Each op × the start after loop {loop} (blue: more, red: less)",
        xlabel="magnitude, in the family's order (torchvision's bins)",
        ylabel="op family",
    )
    figure.colorbar(image, ax=axis, fraction=0.046)


def matplotlib_log_norm(values: np.ndarray):
    """A colour scale symmetric in log around 1× (as far as the largest departure)."""
    from matplotlib.colors import LogNorm

    finite = values[np.isfinite(values)]
    reach = max(float(np.abs(np.log(finite)).max()) if finite.size else 0.0, 0.01)
    return LogNorm(vmin=math.exp(-reach), vmax=math.exp(reach))


def kinds_panel(axis, loops: list[dict], colours) -> None:
    axis.set(title="Probability that an image's ops include each op family", xlabel="loop", ylabel="probability")
    key = "family_marginals" if all("family_marginals" in r for r in loops) else "kind_marginals"  # older histories
    if not all(key in r for r in loops):
        axis.text(0.5, 0.5, "not recorded in this history", ha="center", va="center", transform=axis.transAxes)
        return
    x = [r["loop"] + 1 for r in loops]
    for index, name in enumerate(loops[0][key]):
        axis.plot(x, [r[key][name] for r in loops], label=name, color=colours(index))
    axis.legend(fontsize=7, ncol=2)


def multiples_panel(axis, verdict: Verdict, agent: dict) -> None:
    """The answer's op marginals × uniform, sorted; red/green where the evidence passes the
    verdict's threshold. The grey band is where noise alone puts an op: for awsaug's default
    search, the multiple of an op two median standard errors from zero after the shrinkage
    (critic_agent.shrink); for the paper's, the noise gauge's spread."""
    names = sorted(verdict.multiples, key=verdict.multiples.get)
    shown = "" if len(names) <= SHOWN_OPS else f"; the {SHOWN_OPS // 2} lowest and highest of {len(names)} ops"
    if shown:
        names = names[: SHOWN_OPS // 2] + names[-SHOWN_OPS // 2 :]
    values = np.array([verdict.multiples[name] for name in names])
    evident = verdict.evident
    colours = ["C3" if evident.get(n, 0) < 0 else "C2" if evident.get(n, 0) > 0 else "0.6" for n in names]
    axis.bar(range(len(names)), values, color=colours, zorder=2)
    if "temperature" in agent and verdict.errors is not None and verdict.start == "uniform":
        error = (
            float(np.median(list(verdict.errors.values()))) * len(verdict.multiples) / 2
        )  # per application per image
        z_two = torch.tensor(2 * error, dtype=torch.float64)
        shrunk = float(shrink(z_two, z_two / 2, agent["shrinkage"]))  # β̃ of an op two standard errors from zero
        low, high = math.exp(-shrunk / agent["temperature"]), math.exp(shrunk / agent["temperature"])
        axis.axhspan(low, high, color="0.9", zorder=0, label="noise band (|z| ≤ 2)")
    elif verdict.gauge_gap is not None and math.isfinite(verdict.gauge_gap):
        axis.axhspan(
            1 / (1 + verdict.gauge_gap), 1 + verdict.gauge_gap, color="0.9", zorder=0, label="noise gauge spread"
        )
    axis.axhline(1.0, color="0.3", linestyle=":", zorder=3, label=verdict.start)
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    state = "found: red avoided, green favoured" if verdict.found else "nothing distinguishable from noise"
    axis.set(
        title=f"Each op's probability in the answer × {verdict.start} (KL {verdict.kl:.3f} nats; {state}{shown})",
        ylabel=f"× {verdict.start}",
    )
    axis.legend(fontsize=8)


def scores_panel(axis, scores: Scores) -> None:
    """The closing comparison: each policy's reward on the search's proxy with its paired error,
    best first; the searched policy in colour."""
    from matplotlib.ticker import MaxNLocator

    ordered = sorted(scores.scores, key=lambda score: score.rank)
    for position, score in enumerate(ordered):
        axis.errorbar(
            score.reward,
            position,
            xerr=score.error,
            fmt="o",
            capsize=4,
            color="C0" if score.policy == "searched" else "0.4",
        )
    axis.set_yticks(range(len(ordered)), [score.policy for score in ordered])
    axis.set_ylim(len(ordered) - 0.5, -0.5)  # best on top
    axis.xaxis.set_major_locator(MaxNLocator(4))
    axis.set(
        title=f"On the proxy: {scores.repeats} fine-tunes each (± paired error)",
        xlabel=f"{scores.reward} reward ({scores.unit})",
    )


SHOWN_OPS = 60  # bars in the multiples panel: a larger space shows its lowest and highest
TILE = 128


def _tile(image: torch.Tensor, caption: str) -> Image.Image:
    """One uint8 [3, H, W] image enlarged (nearest) to TILE px, with a caption below."""
    picture = Image.fromarray(image.permute(1, 2, 0).numpy()).resize((TILE, TILE), Image.NEAREST)
    canvas = Image.new("RGB", (TILE, TILE + 28), "white")
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for line, text in enumerate(caption.split("\n")[:2]):
        draw.text((2, TILE + 2 + 12 * line), text, fill="black")
    return canvas


def preview_grid(images: torch.Tensor, augmented: list[torch.Tensor], captions: list[list[str]], out: Path) -> None:
    """Row per image: the clean image, then each augmented version with its pair's names."""
    rows, columns = len(images), 1 + len(augmented)
    grid = Image.new("RGB", (columns * (TILE + 6), rows * (TILE + 34)), "white")
    for row in range(rows):
        tiles = [_tile(images[row], "clean")] + [
            _tile(version[row], captions[c][row]) for c, version in enumerate(augmented)
        ]
        for column, tile in enumerate(tiles):
            grid.paste(tile, (column * (TILE + 6), row * (TILE + 34)))
    buffer = io.BytesIO()
    grid.save(buffer, format=picture_format(out))
    atomic_write_bytes(out, buffer.getvalue())


PREVIEW_BOUNDS = {"images": (1, 64), "columns": (1, 32)}  # a grid a person can look at


def preview(
    policy_name: str,
    data: str,
    out: Path,
    *,
    images: int = 6,
    columns: int = 5,
    image_size: int = 32,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> None:
    """A grid of real test images of `data`: each clean, then under `columns` pairs sampled
    from the policy `policy_name` names (policy_names.py; with their signs), labelled with the
    ops' names."""
    from awsaug_cli.augment import apply_pairs, draw_signs
    from awsaug_cli.data import load_dataset
    from awsaug_cli.policy_names import resolve_policy

    picture_format(out)  # before the work: a name that cannot be written fails now
    for name, value in (("images", images), ("columns", columns)):  # --image-size: the data's memory check
        low, high = PREVIEW_BOUNDS[name]
        if not low <= value <= high:
            raise OptionError(f"--{name} must be between {low} and {high} for a preview, got {value:,}")
    if resolve_policy(policy_name) is None:
        raise OptionError("preview needs a policy ('none' has no pairs to show)")
    dataset = load_dataset(data, image_size=image_size)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset.test_images), generator=generator)[:images]
    batch = dataset.test_images[chosen].to(device)
    policy = resolve_policy(policy_name, tuple(batch.shape[-2:]))
    augmented, captions = [], []
    for _ in range(columns):
        pairs = policy.sample(len(batch), generator)
        signs = draw_signs(len(batch), generator, torch.device("cpu"))
        augmented.append(apply_pairs(batch, pairs.to(device), signs.to(device), space=policy.space).cpu())
        captions.append(
            [
                "\n".join(_label(policy, int(op), int(sign)) for op, sign in zip(pair, sign_pair))
                for pair, sign_pair in zip(pairs, signs)
            ]
        )
    preview_grid(batch.cpu(), augmented, captions, out)


def _label(policy: Policy, op: int, sign: int) -> str:
    spec = policy.space[op]
    return f"{spec.name}{'+' if sign > 0 else '-'}" if spec.signed else spec.name
