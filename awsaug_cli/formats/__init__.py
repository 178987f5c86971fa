"""Policy files in and out (docs/FORMATS.md): the canonical awsaug JSON, the authors' agent
checkpoint and history layouts as imports, and the exports to other libraries."""

from awsaug_cli.formats.exporters import EXPORTERS, ExportError, export, export_policy_file
from awsaug_cli.formats.importers import import_policy

__all__ = ["EXPORTERS", "ExportError", "export", "export_policy_file", "import_policy"]
