"""`python -m simulator` is the `kraken-sim` command."""

from simulator.cli import main

raise SystemExit(main())
