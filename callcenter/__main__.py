"""`python -m callcenter`: the same as the `callcenter` command."""

from callcenter.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
