"""What makes ``Waymark.app`` a Waymark bundle, declared once: the Info.plist keys
(read by the PyInstaller spec's BUNDLE and by the stand-in app) and the PPPC
profile that pre-approves Accessibility for the signed bundle.

    python -m installers.macos.app_bundle pppc --team-id ABCDE12345 > waymark.pppc.mobileconfig

writes the PPPC profile for the release's signing team; the committed
``installers/macos/org.waymark.agent.pppc.mobileconfig`` is the same profile
with the placeholder team ``TEAMID`` (a test keeps it in sync).
"""

from __future__ import annotations

import argparse
import plistlib
import sys
import uuid
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["BUNDLE_ID", "MIN_MACOS", "code_requirement", "info_plist", "pppc_profile"]

BUNDLE_ID: Final = "org.waymark.agent"
#: Oldest macOS the pkg installs on (Distribution) and the app runs on (Info.plist).
MIN_MACOS: Final = "12.0"
PLACEHOLDER_TEAM: Final = "TEAMID"
ACCESSIBILITY_USAGE: Final = (
    "Waymark reads the title of the window in front to match coaching tips. "
    "Titles stay on this Mac; no typed text is ever read."
)


def info_plist(version: str) -> dict[str, Any]:
    """Info.plist keys of Waymark.app (PyInstaller's BUNDLE adds nothing that contradicts them)."""
    return {
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleName": "Waymark",
        "CFBundleDisplayName": "Waymark",
        "CFBundleExecutable": "waymark",
        "CFBundlePackageType": "APPL",
        "CFBundleIconFile": "waymark.icns",
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSMinimumSystemVersion": MIN_MACOS,
        # A menu-bar agent: no Dock icon, no app menu.
        "LSUIElement": True,
        "NSHighResolutionCapable": True,
        "NSAccessibilityUsageDescription": ACCESSIBILITY_USAGE,
    }


def code_requirement(team_id: str) -> str:
    """The designated requirement of the bundle signed with a Developer ID of ``team_id``."""
    return (
        f'identifier "{BUNDLE_ID}" and anchor apple generic and '
        "certificate 1[field.1.2.840.113635.100.6.2.6] /* exists */ and "
        "certificate leaf[field.1.2.840.113635.100.6.1.13] /* exists */ and "
        f'certificate leaf[subject.OU] = "{team_id}"'
    )


def pppc_profile(team_id: str = PLACEHOLDER_TEAM) -> bytes:
    """A Privacy Preferences Policy Control profile for the bundle signed by ``team_id``.

    Accessibility (window titles) is pre-approved. Input Monitoring
    (``ListenEvent``, for key chords) cannot be pre-approved by an MDM; the
    profile lets a standard user approve it themselves, so no admin is needed
    when macOS asks.
    """
    base = uuid.uuid5(uuid.NAMESPACE_DNS, "pppc.waymark.example")
    rule = {
        "Identifier": BUNDLE_ID,
        "IdentifierType": "bundleID",
        "CodeRequirement": code_requirement(team_id),
        "StaticCode": False,
    }
    payload = {
        "PayloadType": "com.apple.TCC.configuration-profile-policy",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{BUNDLE_ID}.pppc.policy",
        "PayloadUUID": str(uuid.uuid5(base, "payload")).upper(),
        "PayloadDisplayName": "Waymark privacy permissions",
        "Services": {
            "Accessibility": [
                {**rule, "Authorization": "Allow",
                 "Comment": "Window titles for coaching rules"},
            ],
            "ListenEvent": [
                {**rule, "Authorization": "AllowStandardUserToSetSystemService",
                 "Comment": "Key chords; macOS lets only the person approve Input Monitoring"},
            ],
        },
    }  # fmt: skip
    profile = {
        "PayloadContent": [payload],
        "PayloadDisplayName": "Waymark privacy permissions",
        "PayloadDescription": "Pre-approves Accessibility for Waymark (org.waymark.agent).",
        "PayloadIdentifier": f"{BUNDLE_ID}.pppc",
        "PayloadOrganization": "Waymark",
        "PayloadScope": "System",
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(base, "profile")).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m installers.macos.app_bundle")
    sub = parser.add_subparsers(dest="command", required=True)
    pppc = sub.add_parser("pppc", help="print the PPPC profile for a signing team")
    pppc.add_argument("--team-id", default=PLACEHOLDER_TEAM, help="Apple Developer Team ID")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(pppc_profile(args.team_id))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
