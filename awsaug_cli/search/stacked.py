"""W copies of one model trained as one: a loop's trajectories fine-tuned together (batched
trajectories). Each copy has its own weights, BatchNorm statistics and SGD momentum, stacked
along a leading dimension and run through the model under `torch.func.vmap`: one forward and
one backward per step for all W, and each copy's gradient exactly its own (the copies share no
parameter). Why: a small model fills a fraction of a GPU, so W copies side by side cost about
one. On a CPU the stacked convolutions run as grouped ones, which are slower there than W plain
ones (BENCHMARKS.md "Batched trajectories"), so the search batches on CUDA by default."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from awsaug_cli.checkpoint import Checkpoint, restore
from awsaug_cli.models import model_device
from awsaug_cli.training_loop import OptimSettings, sgd


class StackedCopies:
    """`copies` copies of `model` restored from one checkpoint, stepped together."""

    def __init__(self, model: nn.Module, shared: Checkpoint, copies: int, settings: OptimSettings) -> None:
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        restore(shared, model, None)  # the checkpoint is checked against the model here
        self.copies, self.settings = copies, settings
        self.device = model_device(model)
        self.template = copy.deepcopy(model).to("meta")  # the structure only: every tensor comes from the stacks
        self.parameters = {name: stack(value, copies).requires_grad_() for name, value in model.named_parameters()}
        self.buffers = {name: stack(value, copies) for name, value in model.named_buffers()}
        self.optimizer = sgd(list(self.parameters.values()), settings, stacked=1)
        for name, parameter in self.parameters.items():
            momentum = shared.tensors.get(f"momentum.{name}")
            if momentum is not None:  # as checkpoint.restore, for each copy
                self.optimizer.state[parameter]["momentum_buffer"] = stack(
                    momentum.to(parameter.device, parameter.dtype), copies
                )

    def _forward(self, parameters: dict, buffers: dict, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, (parameters, buffers), (inputs,))

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step of every copy on its own batch (inputs [W, B, …], targets [W, B]) at
        learning rate `lr`, as training_loop.run_epoch steps one model; the copies' losses [W]."""
        self.template.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        cuda = self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = vmap(self._forward)(self.parameters, self.buffers, inputs)
            losses = torch.stack(
                [
                    F.cross_entropy(each, labels, label_smoothing=self.settings.label_smoothing)
                    for each, labels in zip(logits, targets)
                ]
            )
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # each copy's parameters receive its own loss's gradient only
        if self.settings.grad_clip:
            clip_each_copy(list(self.parameters.values()), self.settings.grad_clip)
        self.optimizer.step()
        return losses.detach()

    @torch.no_grad()
    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Every copy's logits [W, B, classes] on one batch [B, …], in evaluation mode."""
        self.template.eval()
        return vmap(self._forward, in_dims=(0, 0, None))(self.parameters, self.buffers, inputs)


def stack(tensor: torch.Tensor, copies: int) -> torch.Tensor:
    """`copies` copies of `tensor` along a new leading dimension, each its own storage."""
    return tensor.detach().unsqueeze(0).repeat(copies, *([1] * tensor.ndim))


@torch.no_grad()
def clip_each_copy(parameters: list[torch.Tensor], max_norm: float) -> None:
    """nn.utils.clip_grad_norm_ for each copy apart: copy w's gradients scaled so that their
    joint norm is at most `max_norm` (the same formula, per copy)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([grad.flatten(1).norm(dim=1) for grad in grads]).norm(dim=0)  # [W]
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(scale.view(-1, *([1] * (grad.ndim - 1))).to(grad.dtype))
