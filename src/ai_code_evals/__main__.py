import sys

from ai_code_evals.cli import main

sys.exit(main())
