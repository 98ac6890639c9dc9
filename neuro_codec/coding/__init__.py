"""Coding: exact event formats and their costs, the entropy coder, the `.snc` and `.rvq` files,
and the pipeline that turns a waveform into a file and back with a loaded model."""
