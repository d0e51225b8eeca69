"""`python -m smart_vault.cli`: the same as the `smart-vault` command."""

import sys

from smart_vault.cli.main import main

sys.exit(main())
