"""The agent's PyInstaller spec (waymark.spec) and the build steps it calls."""
