"""Benchmarks: each module prints a table and saves its figures and CSVs under `--out`.

Run them as modules from the repository root, `python -m benchmarks.<name> [--help]`, so that
`neuro_codec`, `conversion` and `hardware` import from the checkout without any edit to
`sys.path`.
"""
