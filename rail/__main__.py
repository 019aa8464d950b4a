import sys

from rail.cli import main

sys.exit(main())
