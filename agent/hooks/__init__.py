"""OS event sources. Each kind of source has one small interface (see base.py)."""
