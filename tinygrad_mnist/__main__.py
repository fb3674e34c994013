"""`python -m tinygrad_mnist` runs the command line."""

import sys

from tinygrad_mnist.cli.main import main

sys.exit(main())
