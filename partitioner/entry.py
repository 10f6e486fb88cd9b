"""The ``ctxfit`` console script.

A Ctrl-C that lands while the command is still importing (rich, numpy, the CLI), before
:func:`partitioner.cli.main` runs and handles it, exits 130 with one line instead of a
traceback. This module imports nothing heavy, so that window is as short as Python's start-up.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> int:
    """Import the CLI and run it; Ctrl-C during the import exits 130 with ``interrupted``."""
    try:
        from partitioner.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    return cli_main()
