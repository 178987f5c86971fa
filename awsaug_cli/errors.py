"""The exceptions that mean "bad input or a prerequisite missing": the CLI reports each as one
line and exit code 2; anything else is a bug and keeps its traceback."""

from awsaug_cli.atomic import WriteError
from awsaug_cli.checkpoint import CheckpointError
from awsaug_cli.data.dataset import DataError
from awsaug_cli.devices import DeviceError
from awsaug_cli.kernels.backends import BackendUnavailableError
from awsaug_cli.models import UnknownModelError
from awsaug_cli.policy import PolicyFormatError
from awsaug_cli.runs import RunError
from awsaug_cli.search import SearchError

USER_ERRORS: tuple[type[Exception], ...] = (
    CheckpointError,
    DataError,
    DeviceError,
    BackendUnavailableError,
    UnknownModelError,
    PolicyFormatError,
    RunError,
    SearchError,
    WriteError,
    ValueError,
)
