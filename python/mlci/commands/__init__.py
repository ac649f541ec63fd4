"""One module per CLI command (see mlci.cli.COMMANDS)."""
