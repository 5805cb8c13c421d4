"""``python -m attnverify`` is the ``attnverify`` command."""

import sys

from attnverify.proofs_numeric.cli import main

sys.exit(main())
