"""`python -m opsctl.cli`: the same as the `opsctl` console script."""

from opsctl.cli.app import main

main()
