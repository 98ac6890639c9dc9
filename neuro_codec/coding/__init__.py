"""Coding: exact event formats and their costs, the entropy coder, the `.snc` and `.rvq` files.
The codec's API above them (waveform → file → waveform with a loaded model) is
`neuro_codec.compression`."""
