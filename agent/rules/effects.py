"""What the engine produces: toasts to show and records to keep.

:class:`ShowToast` carries the rule's :class:`~agent.rules.model.Toast`, plain
data (texts per locale, buttons, snooze choices, timeout, image); the UI picks
the locale and draws it.  Records are in :mod:`agent.rules.records`.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.rules.model import Toast
from agent.rules.records import Record

__all__ = ["Effect", "ShowToast"]


@dataclass(frozen=True, slots=True)
class ShowToast:
    """Show the toast of ``rule`` now. The UI picks the locale.

    ``toast_id`` names this showing in :class:`~agent.events.ToastShown` /
    :class:`~agent.events.ToastNotShown`, the UI's answer.
    """

    t: float
    rule: str
    habit: str
    pack_id: str
    pack_version: int
    toast: Toast
    default_locale: str
    toast_id: int = 0


Effect = ShowToast | Record
