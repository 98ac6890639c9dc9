"""Training: what a run does (`config.py`), what each step draws (`batches.py`), the loop
(`loop.py`, run by `python -m neuro_codec.train`), validation, logs and the sparsity penalties."""

from neuro_codec.training.config import TrainConfig
from neuro_codec.training.loop import train

__all__ = ["TrainConfig", "train"]
