import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def mnist_dir():
    """The offline MNIST copy: $MNIST_DATA_DIR, else ../shared/mnist."""
    path = os.environ.get('MNIST_DATA_DIR') or os.path.join(ROOT, '..', 'shared', 'mnist')
    if not os.path.exists(os.path.join(path, 'train-images-idx3-ubyte.gz')):
        pytest.skip('no MNIST copy at %s (set MNIST_DATA_DIR)' % path)
    return os.path.abspath(path)
