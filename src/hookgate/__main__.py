"""``python -m hookgate``: the same CLI as the ``hookgate`` console script."""

from hookgate.cli import main

main()
