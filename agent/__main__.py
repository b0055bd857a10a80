"""``python -m agent`` is the ``waymark`` command."""

from agent.cli import main

raise SystemExit(main())
