"""python -m batch [RUNS] [JOBS] [--wait] [-- FLAGS...], from the project's root;
auto_binary_mnist_pathnet.sh runs this file from anywhere."""
import os
import sys

if not __package__:     # run as a file: the project's root, not this folder, on the path
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from batch.cli import main  # noqa: E402

sys.exit(main())
