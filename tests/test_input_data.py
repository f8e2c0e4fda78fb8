"""MNIST loading, download, binary tasks and noise."""
import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest

import input_data
from input_data import MnistError, binary_task, download, load_mnist, read_idx, salt_and_pepper


def write_idx(path, magic, dims, data=None, compress=True):
    header = magic.to_bytes(4, 'big') + b''.join(d.to_bytes(4, 'big') for d in dims)
    if data is None:
        data = np.arange(int(np.prod(dims)), dtype=np.uint64).astype(np.uint8).tobytes()
    opener = gzip.open if compress else open
    with opener(path, 'wb') as f:
        f.write(header + data)
    return path


def test_read_idx_decodes_images_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    p = write_idx(tmp_path / 'i.gz', 2051, (3, 28, 28), images.tobytes())
    assert np.array_equal(read_idx(str(p), 2051, 3, (28, 28)), images)
    p = write_idx(tmp_path / 'l.gz', 2049, (4,), bytes([7, 0, 9, 3]))
    assert read_idx(str(p), 2049, 4, ()).tolist() == [7, 0, 9, 3]


@pytest.mark.parametrize('case, message', [
    ('missing', 'is missing'),
    ('not_gzip', 'corrupt or truncated'),
    ('truncated_gzip', 'corrupt or truncated'),
    ('bad_magic', 'magic number 2049, expected 2051'),
    ('wrong_count', 'has shape (2, 28, 28), expected (3, 28, 28)'),
    ('short_data', 'holds 2351 data bytes, expected 2352'),
    ('no_header', 'no IDX header'),
])
def test_read_idx_rejects_bad_files_with_one_line(tmp_path, case, message):
    p = tmp_path / 'x.gz'
    if case == 'not_gzip':
        write_idx(p, 2051, (3, 28, 28), compress=False)
    elif case == 'truncated_gzip':
        write_idx(p, 2051, (3, 28, 28))
        p.write_bytes(p.read_bytes()[:-20])
    elif case == 'bad_magic':
        write_idx(p, 2049, (3, 28, 28))
    elif case == 'wrong_count':
        write_idx(p, 2051, (2, 28, 28))
    elif case == 'short_data':
        write_idx(p, 2051, (3, 28, 28), bytes(3 * 784 - 1))
    elif case == 'no_header':
        with gzip.open(p, 'wb') as f:
            f.write(b'\x00\x00')
    with pytest.raises(MnistError) as e:
        read_idx(str(p), 2051, 3, (28, 28))
    assert message in str(e.value) and '\n' not in str(e.value)


def test_load_mnist_gives_tf1_training_split(mnist_dir):
    data = load_mnist(mnist_dir, download_missing=False)
    assert data['train_images'].shape == (55000, 784) and data['train_images'].dtype == np.uint8
    assert data['train_labels'].shape == (55000,)
    assert data['test_images'].shape == (10000, 784)
    # images 5,000.. of the file: compare with a direct decode
    full = read_idx(os.path.join(mnist_dir, 'train-labels-idx1-ubyte.gz'), 2049, 60000, ())
    assert np.array_equal(data['train_labels'], full[5000:])


def test_load_mnist_names_missing_file(tmp_path, mnist_dir):
    for name in ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
                 't10k-images-idx3-ubyte.gz'):
        shutil.copy(os.path.join(mnist_dir, name), tmp_path)
    with pytest.raises(MnistError, match='t10k-labels-idx1-ubyte.gz is missing'):
        load_mnist(str(tmp_path), download_missing=False)


def test_download_from_mirror_checks_sha256_and_places_file(tmp_path):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    src = write_idx(mirror / 't10k-labels-idx1-ubyte.gz', 2049, (5,))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / 'data'
    download('t10k-labels-idx1-ubyte.gz', str(dest), mirrors=['file://%s/' % mirror],
             sha256={'t10k-labels-idx1-ubyte.gz': digest})
    assert (dest / 't10k-labels-idx1-ubyte.gz').read_bytes() == src.read_bytes()
    assert os.listdir(dest) == ['t10k-labels-idx1-ubyte.gz']


def test_download_falls_back_to_next_mirror(tmp_path):
    good = tmp_path / 'good'
    good.mkdir()
    src = write_idx(good / 't10k-labels-idx1-ubyte.gz', 2049, (5,))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    download('t10k-labels-idx1-ubyte.gz', str(tmp_path / 'data'),
             mirrors=['file://%s/nowhere/' % tmp_path, 'file://%s/' % good],
             sha256={'t10k-labels-idx1-ubyte.gz': digest})
    assert (tmp_path / 'data' / 't10k-labels-idx1-ubyte.gz').exists()


def test_corrupt_or_failed_download_leaves_no_file(tmp_path):
    mirror = tmp_path / 'mirror'
    mirror.mkdir()
    write_idx(mirror / 't10k-labels-idx1-ubyte.gz', 2049, (5,))   # not the canonical bytes
    dest = tmp_path / 'data'
    with pytest.raises(MnistError) as e:
        download('t10k-labels-idx1-ubyte.gz', str(dest), mirrors=['file://%s/' % mirror])
    assert 'checksum mismatch' in str(e.value) and str(dest) in str(e.value)
    assert os.listdir(dest) == []     # no half file, no temporary left behind


def test_no_network_error_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv('MNIST_MIRRORS', 'file://%s/offline/' % tmp_path)
    with pytest.raises(MnistError) as e:
        load_mnist(str(tmp_path / 'data'))
    text = str(e.value)
    assert 'could not download' in text and 'MNIST_DATA_DIR' in text
    assert os.path.abspath(str(tmp_path / 'data')) in text and '\n' not in text


def test_salt_and_pepper_rate_and_even_split():
    rng = np.random.default_rng(0)
    images = np.full((200, 784), 0.5, np.float32)
    noisy = salt_and_pepper(images.copy(), 0.5, rng)
    replaced = noisy != 0.5
    assert abs(replaced.mean() - 0.5) < 0.005
    assert abs((noisy == 1).sum() / replaced.sum() - 0.5) < 0.01
    assert noisy.dtype == np.float32
    # seeded: the same generator state gives the same noise
    assert np.array_equal(salt_and_pepper(images.copy(), 0.5, np.random.default_rng(0)), noisy)
    assert np.array_equal(salt_and_pepper(images.copy(), 0.0, rng), images)


def test_binary_task_selects_classes_and_one_hot_labels():
    images = np.arange(6 * 784).reshape(6, 784) % 256
    labels = np.array([5, 6, 7, 5, 1, 6])
    x, y = binary_task(images.astype(np.uint8), labels, 5, 6, 0.0, np.random.default_rng(0))
    assert x.shape == (4, 784) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert np.allclose(x[1], images[1] / 255.0)
    assert y.tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]   # first class -> column 0


@pytest.mark.parametrize('noise', [0.5, 0.2])
def test_binary_task_noise_replaces_pixels_by_exact_0_or_1_at_the_rate(noise):
    """Compared with the clean x/255 image: a pixel strictly between 0 and 1
    is replaced with probability p (half by 0, half by 1); a clean 0 can only
    visibly become 1 (p/2), a clean 1 only 0 (p/2); every other pixel is
    exactly x/255."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (400, 784)).astype(np.uint8)
    images[:, :100] = 0                          # plenty of clean 0s and 1s
    images[:, 100:200] = 255
    labels = np.arange(400) % 2
    clean, _ = binary_task(images, labels, 0, 1, 0.0, rng)
    assert np.array_equal(clean, images.astype(np.float32) / np.float32(255))
    x, _ = binary_task(images, labels, 0, 1, noise, np.random.default_rng(2))
    changed = x != clean
    assert np.all((x[changed] == 0) | (x[changed] == 1))     # the rest is exactly x/255
    inner = (clean > 0) & (clean < 1)
    assert abs(changed[inner].mean() - noise) < 0.01
    assert abs((x[changed & inner] == 1).mean() - 0.5) < 0.015
    assert abs((x[clean == 0] == 1).mean() - noise / 2) < 0.01
    assert abs((x[clean == 1] == 0).mean() - noise / 2) < 0.01


def test_binary_task_without_noise_changes_nothing():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (50, 784)).astype(np.uint8)
    labels = rng.integers(0, 10, 50)
    x, y = binary_task(images, labels, 3, 8, 0.0, rng)
    keep = (labels == 3) | (labels == 8)
    assert np.array_equal(x, images[keep].astype(np.float32) / np.float32(255))


def test_binary_task_test_split_sizes(mnist_dir):
    data = load_mnist(mnist_dir, download_missing=False)
    sizes = {}
    for a, b in ((5, 6), (6, 7)):
        x, y = binary_task(data['test_images'], data['test_labels'], a, b, 0.0,
                           np.random.default_rng(0))
        assert len(x) == len(y)
        sizes[a, b] = len(x)
    assert sizes == {(5, 6): 1850, (6, 7): 1986}
