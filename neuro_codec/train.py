"""`python -m neuro_codec.train`: the training command (`neuro_codec.commands.train`); the loop is
`neuro_codec.training.loop`."""

import sys

from neuro_codec.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
