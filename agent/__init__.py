"""Waymark desktop agent: watches content-free actions and shows coaching toasts."""

__version__ = "0.1.0"
__all__ = ["__version__"]
