"""Build tooling for Waymark's installers (the MSI, the pkg), run on Linux.

Not part of the agent: nothing here is frozen into the bundle. Each OS has its
folder (``windows/``, ``macos/``, ``linux/``); :mod:`installers.standin` makes
the stand-in payloads that let the MSI and the pkg be built and tested on a
machine that cannot freeze the real Windows or macOS agent.
"""
