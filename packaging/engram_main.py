"""Entry point of the frozen app: the desktop window, or (with --self-test, --cli, --tune-child) the
headless commands that the same executable also serves."""

import sys

from app.bootstrap import main

if __name__ == "__main__":
    sys.exit(main())
