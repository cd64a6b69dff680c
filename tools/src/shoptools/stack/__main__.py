"""`python -m shoptools.stack` is the `shop` command (how `shop up` starts its supervisor)."""

from shoptools.stack.cli import main

raise SystemExit(main())
