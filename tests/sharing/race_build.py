"""One racer for test_races: build the shared workflow (no LLM) in argv[1]; settings from the environment."""

import sys
from pathlib import Path

from tests.sharing.teammates import Teammate

if __name__ == "__main__":
    statuses = Teammate(Path(sys.argv[1])).run()
    print(statuses)
