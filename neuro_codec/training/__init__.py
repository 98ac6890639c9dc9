"""Training: the loop (`python -m neuro_codec.train`) and the sparsity penalties."""
