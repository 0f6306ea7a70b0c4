"""`python -m synrank` (needed by `torchrun -m synrank ...`)."""

from synrank.cli.main import run

if __name__ == "__main__":
    run()
