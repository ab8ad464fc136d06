import sys

from edgebert.cli import main

sys.exit(main())
