"""`python -m neuro_codec.train`: the training command; the loop is `neuro_codec.training.loop`."""

import sys

from neuro_codec.training.loop import main

if __name__ == "__main__":
    sys.exit(main())
