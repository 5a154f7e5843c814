"""`python -m harness`: the harness's own --help and an unknown suite or experiment answer at once; anything else
goes to the command line in harness.cli.main, which checks every job before Hydra starts one.
"""

import sys

from harness.cli.usage import HELP_FLAGS, check_group_choices, help_page

if __name__ == "__main__":
    if any(arg in HELP_FLAGS for arg in sys.argv[1:]):
        print(help_page())
        sys.exit(0)
    if error := check_group_choices(sys.argv[1:]):
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    from harness.cli.main import run

    run(sys.argv[1:])
