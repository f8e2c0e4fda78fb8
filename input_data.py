"""MNIST for the binary PathNet tasks: load (or download) the IDX files,
pick two classes, add salt-and-pepper noise.

Everything here is NumPy; TensorFlow is not imported, so data errors are
reported before the slow TensorFlow import.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib

import numpy as np

FILES = {
    'train_images': 'train-images-idx3-ubyte.gz',
    'train_labels': 'train-labels-idx1-ubyte.gz',
    'test_images': 't10k-images-idx3-ubyte.gz',
    'test_labels': 't10k-labels-idx1-ubyte.gz',
}
COUNTS = {'train': 60000, 't10k': 10000}
# The mirrors TF 1.x's mnist loader used (its default source first).
MIRRORS = ('https://storage.googleapis.com/cvdf-datasets/mnist/',
           'http://yann.lecun.com/exdb/mnist/')
# SHA-256 of the canonical .gz downloads. Only downloaded bytes are checked
# against these: a copy a user placed in the folder may be re-compressed, and
# is validated by its IDX header and size instead.
SHA256 = {
    'train-images-idx3-ubyte.gz': '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
    'train-labels-idx1-ubyte.gz': '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    't10k-images-idx3-ubyte.gz': '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
    't10k-labels-idx1-ubyte.gz': 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
}
VALIDATION_SIZE = 5000  # TF 1.x kept training images 0..4999 for validation


class MnistError(Exception):
    """A data problem, reported to the user as one line."""


def default_data_dir(flag=None):
    return flag or os.environ.get('MNIST_DATA_DIR') or 'MNIST_data'


def download(name, data_dir, mirrors=MIRRORS, sha256=None, timeout=30):
    """Fetch one file into data_dir, all or nothing: the bytes go to a
    temporary file that is renamed into place only once its checksum holds."""
    expected = (sha256 or SHA256)[name]
    os.makedirs(data_dir, exist_ok=True)
    errors = []
    for mirror in mirrors:
        fd, tmp = tempfile.mkstemp(prefix='.' + name + '.', suffix='.part', dir=data_dir)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, 'wb') as out, \
                    urllib.request.urlopen(mirror + name, timeout=timeout) as src:
                for chunk in iter(lambda: src.read(1 << 16), b''):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise MnistError('checksum mismatch')
            os.replace(tmp, os.path.join(data_dir, name))
            return
        except (OSError, MnistError, ValueError) as e:
            errors.append('%s: %s' % (mirror, getattr(e, 'reason', e)))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise MnistError('could not download %s (%s); put the four MNIST .gz files (%s) '
                     'in %s or point --data_dir / MNIST_DATA_DIR at them'
                     % (name, '; '.join(errors), ', '.join(sorted(SHA256)),
                        os.path.abspath(data_dir)))


def read_idx(path, magic, count, item_shape):
    """Decode one gzip'd IDX file, checking header, count, shape and size."""
    name = os.path.basename(path)
    try:
        with gzip.open(path, 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        raise MnistError('%s is missing' % path)
    except (PermissionError, IsADirectoryError) as e:    # not a data problem: say so
        raise MnistError('cannot read %s: %s' % (path, e.strerror))
    except (OSError, EOFError, zlib.error) as e:
        raise MnistError('%s is corrupt or truncated (%s)' % (path, e))
    ndim = 1 + len(item_shape)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistError('%s is truncated: %d bytes, no IDX header' % (name, len(raw)))
    got_magic = int.from_bytes(raw[:4], 'big')
    if got_magic != magic:
        raise MnistError('%s has IDX magic number %d, expected %d' % (name, got_magic, magic))
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    if dims != (count,) + tuple(item_shape):
        raise MnistError('%s has shape %s, expected %s'
                         % (name, dims, (count,) + tuple(item_shape)))
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise MnistError('%s holds %d data bytes, expected %d (truncated or padded)'
                         % (name, len(raw) - header, size))
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def mirrors_from_env():
    """MNIST_MIRRORS (space-separated URL prefixes) overrides the mirrors."""
    return tuple(os.environ.get('MNIST_MIRRORS', '').split()) or MIRRORS


def load_mnist(data_dir, download_missing=True, mirrors=None):
    """Returns {train,validation,test}_{images,labels}; images uint8 [n, 784].

    train is TF 1.x's training split (images 5,000..59,999), validation its
    validation split (training images 0..4,999)."""
    if os.path.exists(data_dir):
        # A folder we may not list looks empty: that is no reason to download.
        if not os.path.isdir(data_dir):
            raise MnistError('the data folder %s is not a folder' % data_dir)
        try:
            os.listdir(data_dir)
        except OSError as e:
            raise MnistError('cannot read the data folder %s: %s' % (data_dir, e.strerror))
    missing = [f for f in FILES.values() if not os.path.exists(os.path.join(data_dir, f))]
    if missing and not download_missing:
        raise MnistError('MNIST file %s is missing in %s'
                         % (missing[0], os.path.abspath(data_dir)))
    for name in missing:
        download(name, data_dir, mirrors or mirrors_from_env())
    out = {}
    for key, name in FILES.items():
        count = COUNTS[name.split('-')[0]]
        path = os.path.join(data_dir, name)
        if key.endswith('images'):
            out[key] = read_idx(path, 2051, count, (28, 28)).reshape(count, 784)
        else:
            labels = read_idx(path, 2049, count, ())
            if labels.max() > 9:
                raise MnistError('%s has label %d outside 0..9' % (name, labels.max()))
            out[key] = labels
    # The validation split is held out: never used for fitness.
    out['validation_images'] = out['train_images'][:VALIDATION_SIZE]
    out['validation_labels'] = out['train_labels'][:VALIDATION_SIZE]
    out['train_images'] = out['train_images'][VALIDATION_SIZE:]
    out['train_labels'] = out['train_labels'][VALIDATION_SIZE:]
    return out


def require_classes(data, classes, data_dir):
    """A task needs images of both its classes in every split: without them
    evolution would never end."""
    for split, (labels_file, where) in (
            ('train', ('train_labels', ' (after the 5,000 validation images)')),
            ('test', ('test_labels', '')),
            ('validation', ('train_labels', ' (its first 5,000 images, the validation split)'))):
        labels = data[split + '_labels']
        for c in sorted(classes):
            if not (labels == c).any():
                raise MnistError('class %d has no images in %s%s'
                                 % (c, os.path.join(data_dir, FILES[labels_file]), where))


def salt_and_pepper(images, rate, rng):
    """Each pixel, with probability `rate`, becomes 0 or 1 (even odds), in
    place. One uniform draw per pixel decides both whether and which way."""
    u = rng.random(images.shape, dtype=np.float32)
    np.copyto(images, u >= rate / 2, where=u < rate)
    return images


def binary_task(images, labels, a, b, noise, rng):
    """Images of classes a and b as float32 [n, 784] in [0, 1] with noise,
    and one-hot labels [n, 2] (class a -> column 0)."""
    keep = (labels == a) | (labels == b)
    x = images[keep].astype(np.float32)
    np.divide(x, 255.0, out=x)
    if noise > 0:
        salt_and_pepper(x, noise, rng)
    y = np.zeros((len(x), 2), np.float32)
    y[np.arange(len(x)), (labels[keep] == b).astype(int)] = 1.0
    return x, y


def require_train_images(data, classes, n):
    """--train_images n larger than the task of these two classes has: refused
    before anything is trained (None: all images)."""
    if n:
        have = min(int(np.sum(data['train_labels'] == c)) for c in classes)
        if n > 2 * have:
            raise MnistError('--train_images %d is more than task 2 (%d vs %d) has: at most %d, '
                             'half of each class (its smaller class has %d training images)'
                             % (n, classes[0], classes[1], 2 * have, have))


def balanced_subset(labels, n, rng):
    """Indices of n images, n/2 of each class (one-hot labels [k, 2]), drawn without
    replacement from rng, in the images' own order. MnistError if a class has fewer
    than n/2 images."""
    classes = [np.flatnonzero(labels[:, c] == 1) for c in (0, 1)]
    for c, index in enumerate(classes):
        if len(index) < n // 2:
            raise MnistError('--train_images %d needs %d images of each class; the task\'s '
                             'class in column %d has %d' % (n, n // 2, c, len(index)))
    return np.sort(np.concatenate([rng.choice(index, n // 2, replace=False)
                                   for index in classes]))


class Batcher:
    """Minibatch indices into a task's n images: the seed's shuffle, epoch
    after epoch (reshuffled with the run's generator at every epoch)."""

    def __init__(self, n, rng):
        self.n, self.rng, self.order, self.pos = n, rng, rng.permutation(n), 0

    def take(self, count):
        out = []
        while count:
            if self.pos == self.n:
                self.order, self.pos = self.rng.permutation(self.n), 0
            k = min(count, self.n - self.pos)
            out.append(self.order[self.pos:self.pos + k])
            self.pos += k
            count -= k
        return np.concatenate(out)
