"""The frozen `waymark` executable's entry point (PyInstaller runs this file)."""

from agent.cli import main

raise SystemExit(main())
