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


def one_line_error(main, capsys, argv):
    """Run a command's main() in-process: it must exit 1 with exactly one
    `error: ...` line on stderr and nothing on stdout. Returns that line."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ''
    assert err.startswith('error: ') and err.count('\n') == 1, err
    return err
