"""``python -m reproduction``: see :mod:`reproduction.command`."""

from reproduction.command import main

raise SystemExit(main())
