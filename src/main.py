"""Thin entry so that `python src/main.py` runs the app from a checkout."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from ai_code_evals.cli import main

if __name__ == "__main__":
    sys.exit(main())
