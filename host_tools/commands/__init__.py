"""Subcommands of `dsc`: each module here has `register(subparsers)` (see host_tools.cli)."""
