"""`python -m awsaug_cli` runs the CLI (handy under torchrun)."""

from awsaug_cli.cli import main

main()
