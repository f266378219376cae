"""python -m scratchae.grade: grade lesson 05 submissions (see scratchae.teacher.grade)."""
import sys

from .teacher.grade import main

if __name__ == "__main__":
    sys.exit(main())
