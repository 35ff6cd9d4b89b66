"""``python -m keras_tfm.cli``: the same as the ``keras-tfm`` command."""

import sys

from keras_tfm.cli import main

sys.exit(main())
