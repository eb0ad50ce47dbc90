"""`python -m common.bringup`: see `common.bringup`."""

import sys

from common.bringup import main

sys.exit(main())
