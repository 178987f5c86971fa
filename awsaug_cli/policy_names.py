"""What a policy name on the command line means (`train --policy`, `--compare`, `preview`): a
policy file (the canonical JSON, or the authors' agent checkpoint or history: formats/importers.py),
or one of the built-ins — `none` (crop, flip and Cutout only: no pairs), `uniform`
(uniform AWS-36: the paper's shared policy θ̄), `randaugment` / `randaugment:N:M` and
`trivialaugment` (torchvision's, torchvision_policies.py)."""

from __future__ import annotations

from collections.abc import Callable

from awsaug_cli.formats.importers import import_policy
from awsaug_cli.policy import Policy
from awsaug_cli.torchvision_policies import parse_built_in

# names that are not files: what they train with at an image size (None: no pairs)
BUILT_IN_POLICIES: dict[str, Callable[[tuple[int, int]], Policy | None]] = {
    "none": lambda size: None,
    "uniform": lambda size: Policy.uniform(),
}


def resolve_policy(spec: str, image_size: tuple[int, int] = (32, 32)) -> Policy | None:
    """The policy `spec` names, for images of `image_size` (RandAugment's translate range
    scales with the image)."""
    if spec in BUILT_IN_POLICIES:
        return BUILT_IN_POLICIES[spec](image_size)
    built_in = parse_built_in(spec, image_size)
    return built_in if built_in is not None else import_policy(spec)  # every file export-policy --from reads
