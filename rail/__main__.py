import sys

from rail.app.cli import main

sys.exit(main())
