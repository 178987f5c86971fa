"""export-policy, the imports of the authors' layouts, preview and report."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from awsaug_cli.cli import app
from awsaug_cli.formats import import_policy
from awsaug_cli.policy import Policy, PolicyFormatError

RUN = CliRunner()


def authors_params(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(36, generator=generator), torch.randn(36, 36, generator=generator)


def sigmoid_probs(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    s1, s2 = first.double().sigmoid(), second.double().sigmoid()
    return (s1 / s1.sum()).unsqueeze(1) * (s2 / s2.sum(dim=1, keepdim=True))


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_the_authors_agent_checkpoint_imports_with_its_probabilities(tmp_path, layout):
    first, second = authors_params()
    agent = {
        "first_param": first,
        "second_param": second,
        "optimizer": {"state": {}, "param_groups": []},
        "initial_baseline": 90.0,
        "running_baseline": 91.0,
    }
    content = (
        {"agent": agent, "epoch": 3}
        if layout == "nested"
        else {"agent.first_param": first, "agent.second_param": second}
    )
    torch.save(content, tmp_path / "agent.pth")
    policy = import_policy(tmp_path / "agent.pth")
    assert torch.allclose(policy.joint(), sigmoid_probs(first, second), atol=1e-12)


def test_the_authors_history_imports_its_last_loop(tmp_path):
    history = [[p.tolist() for p in authors_params(seed)] for seed in range(3)]
    (tmp_path / "history.json").write_text(json.dumps(history))
    policy = import_policy(tmp_path / "history.json")
    assert torch.allclose(policy.joint(), sigmoid_probs(*authors_params(2)), atol=1e-12)


class PickledAgent:
    """An object: loading it would need this code, which weights_only forbids."""

    def __init__(self) -> None:
        self.first_param = torch.zeros(36)


def test_torch_files_that_need_code_to_load_are_refused(tmp_path):
    torch.save({"agent": PickledAgent()}, tmp_path / "pickled.pth")
    with pytest.raises(PolicyFormatError, match="objects besides tensors .*PickledAgent") as refused:
        import_policy(tmp_path / "pickled.pth")
    assert "weights_only" not in str(refused.value)  # never invite the unsafe load
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(PolicyFormatError, match="without agent.first_param"):
        import_policy(tmp_path / "other.pth")
    torch.save(
        {"agent.first_param": torch.zeros(36).to_sparse(), "agent.second_param": torch.zeros(36, 36)},
        tmp_path / "sparse.pth",
    )
    with pytest.raises(PolicyFormatError, match="dense real tensors"):
        import_policy(tmp_path / "sparse.pth")


def test_export_converts_and_round_trips_exactly(tmp_path):
    first, second = authors_params()
    torch.save({"agent": {"first_param": first, "second_param": second}}, tmp_path / "agent.pth")
    result = RUN.invoke(
        app, ["export-policy", str(tmp_path / "policy.json"), "--from", str(tmp_path / "agent.pth"), "--top-k", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "top 7 of 1296 pairs" in result.output
    policy = Policy.load(tmp_path / "policy.json")
    assert torch.equal(policy.first_logits, first.double()) and torch.equal(policy.second_logits, second.double())
    assert len(json.loads((tmp_path / "policy.json").read_text())["top_pairs"]) == 7
    again = RUN.invoke(app, ["export-policy", str(tmp_path / "again.json"), "--from", str(tmp_path / "policy.json")])
    assert again.exit_code == 0
    assert torch.equal(Policy.load(tmp_path / "again.json").second_logits, policy.second_logits)


def one_line_error(args: list[str], message: str) -> None:
    result = RUN.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_export_refusals_leave_no_partial_file(tmp_path):
    Policy.uniform().save(tmp_path / "good.json")
    good = str(tmp_path / "good.json")
    data = json.loads((tmp_path / "good.json").read_text())
    bad = {
        "version": dict(data, version=9),
        "space": dict(data, space="fancy"),
        "probs": dict(data, first_probs=[1.0] + [0.0] * 35),
    }
    for name, content in bad.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
        one_line_error(
            ["export-policy", str(tmp_path / "out.json"), "--from", str(tmp_path / f"{name}.json")],
            {"version": "'version' is 9", "space": "'space' is 'fancy'", "probs": "first_probs"}[name],
        )
    nan = json.dumps(data).replace('"first_logits": [0.0', '"first_logits": [NaN', 1)
    (tmp_path / "nan.json").write_text(nan)
    one_line_error(["export-policy", str(tmp_path / "out.json"), "--from", str(tmp_path / "nan.json")], "NaN")
    one_line_error(
        ["export-policy", str(tmp_path / "out.json"), "--from", good, "--format", "onnx"],
        "'onnx' is not one of 'awsaug'",
    )
    one_line_error(
        ["export-policy", str(tmp_path / "out.json"), "--from", good, "--format", "kornia", "--top-k", "0"], "--top-k"
    )
    one_line_error(["export-policy", str(tmp_path / "nowhere" / "out.json"), "--from", good], "does not exist")
    taken = tmp_path / "taken"
    taken.mkdir()  # a folder where the file should go: the final rename fails
    one_line_error(["export-policy", str(taken), "--from", good], "cannot write")
    assert list(taken.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left
    assert not (tmp_path / "out.json").exists()
    one_line_error(
        ["export-policy", str(tmp_path / "out.json"), "--run-dir", str(tmp_path / "run")], "no finished search"
    )


def test_preview_draws_the_grid(tmp_path):
    out = tmp_path / "preview.png"
    result = RUN.invoke(app, ["preview", "uniform", "--out", str(out), "--images", "2", "--columns", "3"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (4 * (128 + 6), 2 * (128 + 34))
    one_line_error(["preview", "none", "--out", str(tmp_path / "x.png")], "needs a policy")
    one_line_error(["preview", "uniform", "--out", str(tmp_path / "nowhere" / "x.png")], "does not exist")


def test_report_needs_a_search(tmp_path):
    one_line_error(["report", "--run-dir", str(tmp_path), "--out", str(tmp_path / "r.png")], "no search history")


def canonical_text(**changes) -> str:
    data = Policy.uniform().to_json()
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            canonical_text().replace('"first_logits": [0.0', '"first_logits": [' + "9" * 5000, 1),
            "a number too long to read",
        ),
        (canonical_text(space=["aws36"]), "field 'space' is ['aws36']"),
        (canonical_text(parametrization=["softmax"]), "field 'parametrization' is ['softmax']"),
        (canonical_text(space="x" * 50_000_000), "field 'space' is 'xxxx"),
    ],
)
def test_a_malformed_policy_file_is_one_short_line(tmp_path, text, message):
    path = tmp_path / "policy.json"
    path.write_text(text)
    for read in (Policy.load, import_policy):
        with pytest.raises(PolicyFormatError) as raised:
            read(path)
        assert message in str(raised.value) and len(str(raised.value)) < 200  # never the 50 MB string echoed whole


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"  \n", b"\xef\xbb\xbf\n "])
def test_a_json_file_after_a_byte_order_mark_or_spaces_is_read_as_json_everywhere(tmp_path, prefix):
    path = tmp_path / "policy.json"
    path.write_bytes(prefix + canonical_text().encode())
    assert torch.equal(import_policy(path).joint(), Policy.uniform().joint())
    assert torch.equal(Policy.load(path).joint(), Policy.uniform().joint())
    from awsaug_cli.policy_names import resolve_policy  # what train, score and preview read

    assert torch.equal(resolve_policy(str(path)).joint(), Policy.uniform().joint())


def test_a_damaged_history_line_with_a_number_too_long_names_the_line(tmp_path):
    from awsaug_cli.runs import RunError, read_jsonl

    path = tmp_path / "history.jsonl"
    path.write_text('{"loop": 0}\n{"loop": ' + "9" * 5000 + '}\n{"loop": 2}\n')
    with pytest.raises(RunError, match="line 2"):
        read_jsonl(path)


def test_export_policy_never_writes_over_a_file_the_run_directory_keeps(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "search").mkdir(parents=True)
    (run_dir / "pretrain").mkdir()
    answer = run_dir / "search" / "policy.json"
    Policy.uniform().save(answer)
    kept = answer.read_bytes()
    (run_dir / "pretrain" / "shared.safetensors").write_bytes(b"weights")
    (tmp_path / "link.json").symlink_to(run_dir / "pretrain" / "shared.safetensors")
    for out in (
        answer,
        run_dir / "pretrain" / "shared.safetensors",
        run_dir / "run.json",
        tmp_path / "link.json",
        run_dir / "train" / "new.json",
    ):
        result = RUN.invoke(
            app, ["export-policy", str(out), "--format", "kornia", "--from", str(answer), "--run-dir", str(run_dir)]
        )
        assert result.exit_code == 2 and "a file the run directory" in result.output, out
    assert answer.read_bytes() == kept and (run_dir / "pretrain" / "shared.safetensors").read_bytes() == b"weights"
    assert not (run_dir / "run.json").exists() and not (run_dir / "train").exists()
    beside = RUN.invoke(
        app, ["export-policy", str(run_dir / "policy.json"), "--from", str(answer), "--run-dir", str(run_dir)]
    )
    assert beside.exit_code == 0, beside.output  # the demo writes its export at the run directory's top
