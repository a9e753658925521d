"""``python -m ddbuild.cli``: the same as the ``ddbuild`` console script."""

from ddbuild.cli import main

raise SystemExit(main())
