"""``python -m scratchae.handin NOTEBOOK RUN_DIR --out FILE.zip [--lang en|ja]``: see scratchae.teacher.handin."""
import sys

from .teacher.handin import main

if __name__ == "__main__":
    sys.exit(main())
