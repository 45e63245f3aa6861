"""The `envmon` command line, its exports and the run summary."""

from pipelines.cli.commands import main

__all__ = ["main"]
