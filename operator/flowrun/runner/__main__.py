import sys

from .early import begin

# The FlowRun is read while the rest of the runner (the SDK) is imported.
first = begin()

from .main import main  # noqa: E402

sys.exit(main(first=first))
