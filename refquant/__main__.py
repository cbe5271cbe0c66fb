"""``python -m refquant``: the same commands as the ``refquant`` console script."""

import sys

from refquant.cli import main

if __name__ == "__main__":
    sys.exit(main())
