"""The table of random streams: replayable, and no two uses of randomness ever share draws."""

from __future__ import annotations

import itertools

import torch

from awsaug_cli.seeds import STREAMS, pretrain_model, seeded_generator, stream

MODELS = [pretrain_model(False, 0), *(pretrain_model(True, rank) for rank in range(8))]
EPOCHS, LOOPS, TRAJECTORIES = range(300), range(60), range(16)

# a search's (loop, epoch) and (loop, trajectory, epoch); a score's (−1 − repeat, epoch)
FINETUNE_NOISE = (
    list(itertools.product(LOOPS, range(12)))
    + list(itertools.product(LOOPS, TRAJECTORIES, range(12)))
    + list(itertools.product(range(-1, -21, -1), range(12)))
)
SCORED = range(32)  # policies scored at once

# every coordinate each stream takes in runs up to these sizes
COORDINATES = {
    "pretrain_init": [(m,) for m in MODELS],
    "pretrain_order": list(itertools.product(MODELS, EPOCHS)),
    "pretrain_augment": list(itertools.product(MODELS, EPOCHS)),
    "finetune_order": FINETUNE_NOISE,
    "finetune_augment": FINETUNE_NOISE,
    "search_pairs": list(itertools.product(range(400), TRAJECTORIES)),
    "exploration": [(loop,) for loop in range(400)],
    "score_pairs": list(itertools.product(range(20), SCORED)),
    "final_init": [()],
    "final_order": [(epoch,) for epoch in EPOCHS],
    "final_augment": [(epoch,) for epoch in EPOCHS],
}


def test_every_stream_is_covered_and_no_two_streams_meet():
    assert sorted(COORDINATES) == sorted(STREAMS)
    owner: dict[tuple[int, ...], str] = {}
    for name, coordinates in COORDINATES.items():
        for at in coordinates:
            parts = STREAMS[name](*at)
            assert owner.setdefault(parts, name) == name, f"{name}{at} draws as {owner[parts]}"


def test_a_stream_replays_and_streams_differ():
    first = torch.rand(4, generator=stream(3, "final_order", 2))
    assert torch.equal(first, torch.rand(4, generator=stream(3, "final_order", 2)))
    assert not torch.equal(first, torch.rand(4, generator=stream(3, "final_augment", 2)))
    assert not torch.equal(first, torch.rand(4, generator=stream(4, "final_order", 2)))
    assert torch.equal(
        torch.rand(4, generator=stream(3, "search_pairs", 5, 1)), torch.rand(4, generator=seeded_generator(3, 5, 1))
    )
