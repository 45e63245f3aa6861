"""`python -m pipelines.cli`: the `envmon` command without its installed script."""
import sys

from pipelines.cli.commands import main

sys.exit(main())
