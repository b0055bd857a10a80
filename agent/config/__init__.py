"""Settings, managed policy and where Waymark keeps its files."""
