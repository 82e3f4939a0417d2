"""`python -m mfif` runs the command line."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line is imported
    print("mfif: interrupted", file=sys.stderr, flush=True)
    sys.exit(130)

sys.exit(main())
