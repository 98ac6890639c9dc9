"""Coding: the costs of the event matrix (costs.py), bit packing (bits.py), the exact formats
(formats.py), the entropy coder, the `.snc` and `.rvq` files and what they share (container.py).
The codec's API above them (waveform → file → waveform with a loaded model) is
`neuro_codec.compression`."""
