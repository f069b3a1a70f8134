"""``python -m fastgd``: see ``fastgd.cli``."""

from .cli import main

raise SystemExit(main())
