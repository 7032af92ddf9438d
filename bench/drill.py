"""`uv run python bench/drill.py DRILL [...]`: fault drills under load (RELIABILITY.md)."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (bench.*, scripts.devstack).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drills.cli import main

if __name__ == "__main__":
    sys.exit(main())
