"""Every tf.* name the code uses exists in TensorFlow 1.15's compat.v1 API.

No Python 3.7 (hence no TF 1.15) can be installed here; tests/data/
tf115_compat_v1_api.txt lists every public name of tensorflow.compat.v1 in
TF 1.15.5, one `tf.<name>` a line, modules and their members alike
(tf.raw_ops and each raw op, tf.math and tf.math.top_k, ...). Members of a
class (tf.Summary.Value) are not in it: those are listed in KNOWN_MEMBERS
below, checked by hand, so a new one fails until someone checks it.

Only names are checked: not argument names (tf.gather's batch_dims, the raw
ops' keyword arguments), not behaviour."""
import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_LIST = os.path.join(ROOT, 'tests', 'data', 'tf115_compat_v1_api.txt')
SOURCES = ['*.py', 'lockstep/*.py', 'bench/*.py', 'tests/*.py']

# Attributes of a class the list names, checked by hand against TF 1.15.
KNOWN_MEMBERS = {
    'tf.Summary.Value': 'the nested message of the Summary proto, as in TF 1.x summaries',
    'tf.RunOptions.FULL_TRACE': 'a value of the RunOptions proto\'s TraceLevel enum, in TF 1.x '
                                'config.proto (bench/bench_slots.py\'s trace)',
}


@pytest.fixture(scope='module')
def api():
    if not os.path.exists(API_LIST):       # part of the repository: missing is a failure
        pytest.fail('no TF 1.15 API list at %s' % API_LIST, pytrace=False)
    with open(API_LIST) as f:
        names = {line.strip() for line in f if line.strip() and not line.startswith('#')}
    assert 'tf.Session' in names and 'tf.raw_ops.ApplyAdam' in names, 'unexpected list format'
    return names


def source_files():
    files = sorted({f for pattern in SOURCES for f in glob.glob(os.path.join(ROOT, pattern))})
    assert any(f.endswith('pathnet.py') for f in files)
    return files


def tf_chains(source):
    """Dotted attribute chains rooted at `tf` (or `pathnet.tf`), longest
    only: `tf.train.AdamOptimizer(lr).minimize` gives tf.train.AdamOptimizer."""
    tree = ast.parse(source)
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    chains = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        parts = []
        while isinstance(node, ast.Attribute):
            parts.insert(0, node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            continue
        parts.insert(0, node.id)
        if parts[:2] == ['pathnet', 'tf']:
            parts = parts[1:]
        if parts[0] == 'tf' and len(parts) > 1:
            chains.add('.'.join(parts))
    return chains


def unproven(chains, api):
    """Chains the list does not prove: a prefix that is missing, or a member
    of a listed class/function that is not in KNOWN_MEMBERS."""
    modules = {name.rsplit('.', 1)[0] for name in api}     # names with members listed
    bad = {}
    for chain in sorted(chains):
        parts = chain.split('.')
        for i in range(2, len(parts) + 1):
            prefix = '.'.join(parts[:i])
            if prefix not in api:
                bad[chain] = '%s is not in TF 1.15' % prefix
                break
            if prefix not in modules and i < len(parts):   # a leaf: class, function
                if chain not in KNOWN_MEMBERS:
                    bad[chain] = ('a member of %s, which the list cannot prove: check it in '
                                  'TF 1.15 and add it to KNOWN_MEMBERS' % prefix)
                break
    return bad


def test_tensorflow_is_imported_as_compat_v1_only():
    """`tf` must mean tensorflow.compat.v1 for the list to apply."""
    for path in source_files():
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split('.')[0] == 'tensorflow':
                        assert (alias.name, alias.asname) == ('tensorflow.compat.v1', 'tf'), path
            elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('tensorflow'):
                pytest.fail('%s: from %s import ...: use tensorflow.compat.v1 as tf'
                            % (path, node.module))


def test_every_tf_name_is_in_tf115(api):
    used = {}
    for path in source_files():
        with open(path) as f:
            for chain in tf_chains(f.read()):
                used.setdefault(chain, os.path.relpath(path, ROOT))
    assert {'tf.raw_ops.ApplyAdam', 'tf.math.top_k', 'tf.train.AdamOptimizer'} <= set(used)
    bad = unproven(used, api)
    assert not bad, '\n'.join('%s (%s): %s' % (c, used[c], why) for c, why in sorted(bad.items()))
    # every hand-checked member is still used: the exception list stays short
    assert set(KNOWN_MEMBERS) <= set(used)


def test_checker_catches_names_missing_from_tf115(api):
    """Names TF 2.x's compat.v1 has and 1.15 does not, at each depth, and a
    class member nobody checked."""
    source = '\n'.join([
        'import tensorflow.compat.v1 as tf',
        'x = tf.raw_ops.StatelessRandomGetKeyCounter(seed=s, Tseed=tf.int64)',
        'y = tf.random.stateless_binomial([2], s, 10, 0.5)',
        'z = pathnet.tf.math.top_k(a, 2).indices + tf.GraphKeys.NOT_A_KEY',
        'w = tf.Summary.Value(tag="t")',
    ])
    chains = tf_chains(source)
    assert chains == {'tf.raw_ops.StatelessRandomGetKeyCounter', 'tf.int64',
                      'tf.random.stateless_binomial', 'tf.math.top_k',
                      'tf.GraphKeys.NOT_A_KEY', 'tf.Summary.Value'}
    assert set(unproven(chains, api)) == {'tf.raw_ops.StatelessRandomGetKeyCounter',
                                          'tf.random.stateless_binomial',
                                          'tf.GraphKeys.NOT_A_KEY'}


@pytest.mark.parametrize('python', ['3.7', '3.8', '3.9', '3.12'])
def test_requirements_pick_one_tensorflow_and_one_numpy(python):
    """requirements.txt's environment markers: on each Python and platform
    exactly one TensorFlow line and one numpy line apply, and the one for
    Python 3.7 is TF 1.15, for 3.8 a TF with 3.8 wheels (2.12-2.13)."""
    requirements = pytest.importorskip('packaging.requirements')
    with open(os.path.join(ROOT, 'requirements.txt')) as f:
        reqs = [requirements.Requirement(line.split('#')[0].strip())
                for line in f if line.split('#')[0].strip()]
    for platform, machine in (('linux', 'x86_64'), ('linux', 'aarch64'),
                              ('darwin', 'arm64'), ('win32', 'AMD64')):
        env = {'python_version': python, 'python_full_version': python + '.0',
               'sys_platform': platform, 'platform_machine': machine}
        chosen = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
        tf = [r for r in chosen if r.name.startswith('tensorflow')]
        numpy = [r for r in chosen if r.name == 'numpy']
        assert len(tf) == 1 and len(numpy) == 1, (python, platform, [str(r) for r in chosen])
        cpu = 'tensorflow-cpu' if (platform, machine) == ('linux', 'x86_64') else 'tensorflow'
        if python == '3.7':
            assert tf[0].specifier.contains('1.15.5') and not tf[0].specifier.contains('2.0')
        else:
            assert tf[0].name == cpu
        if python == '3.8':
            assert tf[0].specifier.contains('2.13.1') and not tf[0].specifier.contains('2.14.0')
            assert numpy[0].specifier.contains('1.24.3')
