"""The stages behind the CLI's commands, one module per command that works in a run directory:
pretrain, search and train (final training)."""
