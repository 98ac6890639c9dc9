import sys

from neuro_codec.cli import main

sys.exit(main())
