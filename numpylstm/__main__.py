"""``python -m numpylstm ...``: the command line (see ``numpylstm.cli``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
