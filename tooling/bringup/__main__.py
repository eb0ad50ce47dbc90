"""`python -m tooling.bringup`: see `tooling.bringup`."""

import sys

from tooling.bringup import main

sys.exit(main())
