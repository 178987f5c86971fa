"""Every stream of randomness a run draws from, in one table.

A stream is a torch.Generator seeded from (seed, parts…): the same seed and parts give the same
draws, so an interrupted epoch or loop replays exactly on resume. STREAMS names each use and
lays out its parts; no two names can produce the same parts (tests/test_seeds.py checks it over
the ranges runs use), so no two uses ever share draws. The layouts of the pretrain, fine-tune,
search and exploration streams are the ones earlier versions used, so their runs replay bit for
bit; final training's order and augmentation streams moved to their own tags (−4, −5): they
were (3, epoch) and (4, epoch), the search's pair streams of loops 3 and 4.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# name → its parts from the stream's coordinates. `model`: 0 for a run's one model; an
# independent pretrain's rank r ≥ 1 trains its own model, stream −(10 + r) (pretrain_model).
STREAMS: dict[str, Callable[..., tuple[int, ...]]] = {
    "pretrain_init": lambda model: (model, -1),
    "pretrain_order": lambda model, epoch: (model, epoch, 0),
    "pretrain_augment": lambda model, epoch: (model, epoch, 1),
    # noise: a search's (loop, epoch) or (loop, trajectory, epoch); a score's (−1 − repeat, epoch)
    "finetune_order": lambda *noise: (1, *noise),
    "finetune_augment": lambda *noise: (2, *noise),
    "search_pairs": lambda loop, trajectory: (loop, trajectory),
    "exploration": lambda loop: (-3, loop),
    "score_pairs": lambda repeat, policy: (-6, repeat, policy),
    "final_init": lambda: (-2,),
    "final_order": lambda epoch: (-4, epoch),
    "final_augment": lambda epoch: (-5, epoch),
}


def seeded_generator(seed: int, *parts: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of (seed, parts…), parts folded in one at a time."""
    value = seed
    for part in parts:
        value = (value * 1_000_003 + part + 1) % (2**63 - 1)
    return torch.Generator(device=device).manual_seed(value)


def stream(seed: int, name: str, *at: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of STREAMS[name] at coordinates `at` (epoch, loop, …) for `seed`."""
    return seeded_generator(seed, *STREAMS[name](*at), device=device)


def pretrain_model(independent: bool, rank: int) -> int:
    """The `model` coordinate of the pretrain streams: 0 for the shared model (every rank of a
    DDP run draws alike); an independent run's rank r ≥ 1 its own, clear of every other stream."""
    return -(10 + rank) if independent and rank > 0 else 0
