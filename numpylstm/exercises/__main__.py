"""``python -m numpylstm.exercises grade SUBMISSIONS_DIR``: one line per student (see ``grading``)."""
import sys

from .grading import main

if __name__ == "__main__":
    sys.exit(main())
