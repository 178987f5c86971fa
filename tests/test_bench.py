"""Every benchmark method runs and produces the training transform's output shape."""

from __future__ import annotations

import torch

from awsaug_cli import bench


def test_every_available_method_transforms_a_batch():
    case = bench.Case(16, 16, 4)
    images = bench.sample_images(case)
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 16, 16)
    names = []
    for method in bench.methods():
        if method.device != "cpu":
            continue
        out = method.prepare(case, images, 0)()
        array = out if isinstance(out, torch.Tensor) else torch.as_tensor(out)
        assert tuple(array.shape) == (4, 3, 16, 16), method.name
        assert array.dtype == torch.float32, method.name
        names.append(method.name)
    assert names[0] == bench.BASELINE and "awsaug torch (cpu)" in names
    assert "awsaug torch trivialaugment (cpu)" in names  # a magnitude per image


def test_run_interleaves_rounds_and_reports_speedups():
    results = bench.run(cases=(bench.Case(8, 8, 2),), rounds=2, only=("torch",))
    assert [m.method for m in results] == [
        "pillow",
        "awsaug torch (cpu)",
        "awsaug torch randaugment (cpu)",
        "awsaug torch trivialaugment (cpu)",
    ]
    assert all(len(m.seconds) == 2 for m in results)
    ratios = bench.speedups(results)
    assert ratios[("pillow", results[0].case)] == 1.0
