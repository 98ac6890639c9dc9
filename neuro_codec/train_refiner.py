"""`python -m neuro_codec.train_refiner`: the refiner's training command
(`neuro_codec.commands.train_refiner`); the loop is `neuro_codec.training.refiner_loop`."""

import sys

from neuro_codec.commands.train_refiner import main

if __name__ == "__main__":
    sys.exit(main())
