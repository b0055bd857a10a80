"""The macOS flat pkg (Bom, cpio Payload, xar via bsdtar), the LaunchAgent and the profiles."""
