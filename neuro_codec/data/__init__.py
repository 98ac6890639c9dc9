"""Data: audio files in and out (22,050 Hz mono), the built-in piano corpus and its rendering,
MAESTRO, the clip dataset, test excerpts, and synthetic signals and event matrices for tests."""
