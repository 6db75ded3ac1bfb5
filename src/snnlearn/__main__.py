"""``python -m snnlearn``: the same as the ``snnlearn`` command."""

from snnlearn.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
