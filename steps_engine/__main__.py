import sys

from steps_engine.cli import main

sys.exit(main())
