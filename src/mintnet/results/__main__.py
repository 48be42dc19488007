"""``python -m mintnet.results``: see :mod:`mintnet.results.pipeline`."""

from mintnet.results.pipeline import main

raise SystemExit(main())
