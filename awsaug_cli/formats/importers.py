"""Reading a policy from any supported file: the canonical JSON (current or older awsaug), the
authors' agent checkpoint (a torch file holding agent.first_param [36] and
agent.second_param [36, 36]) or their per-loop history JSON ([[first_param, second_param], …],
the last entry is taken). Torch files are read with weights_only=True: no code runs."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from awsaug_cli.policy import Policy, PolicyFormatError, parse_json


def _from_params(first: Any, second: Any, source: str) -> Policy:
    for value in (first, second):
        if isinstance(value, torch.Tensor) and (value.layout != torch.strided or value.is_complex()):
            raise PolicyFormatError(
                f"{source}: agent parameters must be dense real tensors, not {value.layout} {value.dtype}"
            )
    try:
        first_t = torch.as_tensor(first, dtype=torch.float64)
        second_t = torch.as_tensor(second, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as error:
        raise PolicyFormatError(f"{source}: agent parameters are not numeric arrays ({error})") from None
    policy = Policy(first_t, second_t, "sigmoid")  # the authors' default normalisation
    policy.provenance.update(imported_from=source)
    return policy


def _agent_params(data: Any) -> tuple[Any, Any] | None:
    """(first_param, second_param) from a checkpoint dict in the authors' layouts, if present."""
    if not isinstance(data, dict):
        return None
    if "agent.first_param" in data and "agent.second_param" in data:
        return data["agent.first_param"], data["agent.second_param"]
    agent = data.get("agent")
    if isinstance(agent, dict) and "first_param" in agent and "second_param" in agent:
        return agent["first_param"], agent["second_param"]
    if "first_param" in data and "second_param" in data:
        return data["first_param"], data["second_param"]
    return None


def _unreadable(file: Path, error: Exception) -> PolicyFormatError:
    """Why torch's safe loader refused `file`, without its advice to load the file unsafely."""
    text = str(error).strip()
    marker = "WeightsUnpickler error: "
    detail = (text.split(marker, 1)[1] if marker in text else text).strip().splitlines()
    detail = detail[0] if detail else type(error).__name__
    if detail.startswith("Unsupported global: "):
        refused = detail.removeprefix("Unsupported global: ").split(" was not", 1)[0]
        return PolicyFormatError(
            f"{file}: holds Python objects besides tensors ({refused}); awsaug reads torch files "
            "without running code from them: save first_param and second_param as plain tensors"
        )
    return PolicyFormatError(f"{file}: not a policy file awsaug can read (JSON, or a torch file of tensors: {detail})")


def import_policy(path: str | Path) -> Policy:
    file = Path(path)
    if not file.is_file():
        raise PolicyFormatError(f"{file}: no such file")
    raw = file.read_bytes()
    if raw.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):  # JSON, after a byte-order mark and spaces
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise PolicyFormatError(f"{file}: not valid JSON ({error})") from None
        data = parse_json(text, str(file))
        if isinstance(data, dict):
            return Policy.from_json(data, source=str(file))
        if isinstance(data, list) and data and isinstance(data[-1], list) and len(data[-1]) == 2:
            return _from_params(*data[-1], f"{file} (history, loop {len(data) - 1})")
        raise PolicyFormatError(f"{file}: JSON that is neither an awsaug policy nor the authors' history")
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise _unreadable(file, error) from None
    params = _agent_params(data)
    if params is None:
        raise PolicyFormatError(f"{file}: a torch file without agent.first_param and agent.second_param")
    return _from_params(*params, str(file))
