"""`python -m simplenn.cli`: the same as the `simplenn-bench` script."""
import sys

from simplenn.cli import main

sys.exit(main())
