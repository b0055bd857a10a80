"""Benchmarks. Each module ``bench/<name>.py`` has ``main() -> str`` returning a
Markdown section; ``python -m bench`` runs them all and writes bench/results.md."""
