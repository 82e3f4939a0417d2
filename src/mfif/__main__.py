"""`python -m mfif` runs the command line."""

import sys

from .errors import EXIT_INTERRUPTED

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line is imported (~50 ms)
    print("mfif: interrupted", file=sys.stderr, flush=True)
    sys.exit(EXIT_INTERRUPTED)

sys.exit(main())
