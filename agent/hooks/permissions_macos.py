"""macOS privacy permissions: Input Monitoring and Accessibility, checked separately.

Without Input Monitoring the input hook cannot run (chord, click and typing
rules cannot fire); without Accessibility window titles cannot be read (title
patterns cannot match).  Focus by bundle id, idle and lock need neither.  The
detail strings carry the System Settings deep link that the UI opens.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCESSIBILITY_URL",
    "INPUT_MONITORING_URL",
    "MacPermissions",
    "check_permissions",
]

INPUT_MONITORING_URL = "x-apple.systempreferences:com.apple.preference.security?Privacy_ListenEvent"
ACCESSIBILITY_URL = "x-apple.systempreferences:com.apple.preference.security?Privacy_Accessibility"


@dataclass(frozen=True)
class MacPermissions:
    """Which permissions the agent has (both False when they cannot be asked)."""

    input_monitoring: bool
    accessibility: bool

    def input_detail(self) -> str:
        return (
            "missing permission: Input Monitoring (chord, click and typing rules cannot fire); "
            f"grant it in System Settings > Privacy & Security > Input Monitoring: "
            f"{INPUT_MONITORING_URL}"
        )

    def title_detail(self) -> str:
        return (
            "missing permission: Accessibility (window titles are not read); grant it in "
            f"System Settings > Privacy & Security > Accessibility: {ACCESSIBILITY_URL}"
        )

    def accessibility_detail(self) -> str:
        return (
            "missing permission: Accessibility (element rules cannot fire); grant it in "
            f"System Settings > Privacy & Security > Accessibility: {ACCESSIBILITY_URL}"
        )

    def missing(self) -> list[str]:
        """Human-readable lines for each missing permission."""
        out = []
        if not self.input_monitoring:
            out.append(self.input_detail())
        if not self.accessibility:
            out.append(self.title_detail())
        return out


def check_permissions() -> MacPermissions:
    """Ask macOS (without prompting) which permissions this process has."""
    try:
        import ApplicationServices
        import Quartz
    except ImportError:
        return MacPermissions(False, False)
    listen = bool(Quartz.CGPreflightListenEventAccess())
    trusted = bool(ApplicationServices.AXIsProcessTrusted())
    return MacPermissions(listen, trusted)
