"""PySide6 desktop UI: tray, guidance toasts, settings and consent window.

Entry point: :func:`agent.ui.desktop.run_desktop`.  The UI is typed against
:class:`agent.ui.core.CoreLike`, never against the engine.
"""

from agent.ui._pyside_guard import protect_singletons

protect_singletons()
