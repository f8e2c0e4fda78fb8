"""The repository's shape, as the README's Files table describes it: few files
at the top, no import circle among the project's modules, no product file
too long to read, every module imported by a test; and the suite in a copy
without git, as a release tarball or a downloaded zip would be."""
import ast
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT

PACKAGES = ('batch', 'analysis', 'bench', 'lockstep')
MAX_LINES = 455   # ~450; a longer file has two jobs. The longest: pathnet.py (454), the graph
#                   and the evolutionary operators, together as the project's shape asks.
MAX_TOP_LEVEL = 10


def product_files():
    """{module name: path} of the product code: the top level and the packages."""
    out = {}
    for folder in ('',) + PACKAGES:
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith('.py'):
                module = os.path.splitext(name)[0]
                if folder and folder != 'bench':   # bench/ is scripts side by side, not a package
                    module = folder if module == '__init__' else folder + '.' + module
                out[module] = os.path.join(ROOT, folder, name)
    return out


def imports(path, package):
    """Every module a file imports, at load time or late (inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:                      # relative: from . import x
                base = package + ('.' + base if base else '')
            found.add(base)
            found.update('%s.%s' % (base, a.name) for a in node.names)
    return found


def graph():
    files = product_files()
    edges = {}
    for module, path in files.items():
        package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
        edges[module] = {m for m in imports(path, package) if m in files and m != module}
    return edges


def cycle(edges):
    """A cycle of the graph as a list of modules, or None."""
    state = {}

    def visit(m, trail):
        state[m] = 'open'
        for n in sorted(edges[m]):
            if state.get(n) == 'open':
                return trail[trail.index(n):] + [n]
            if n not in state:
                found = visit(n, trail + [n])
                if found:
                    return found
        state[m] = 'done'
        return None
    for m in sorted(edges):
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None


def test_no_import_cycle_among_the_projects_modules():
    edges = graph()
    assert edges['batch.cli'] >= {'batch.local', 'batch.slurm', 'batch.common'}
    assert cycle(edges) is None, ' -> '.join(cycle(edges))
    # the halves of the batch share common, which imports neither them nor the command
    assert not edges['batch.common'] & {'batch.cli', 'batch.local', 'batch.slurm', 'batch'}
    # no plot script imports another; they share analysis.plots
    plots = [m for m in edges if m.startswith('analysis.plot_') or m == 'plot_overlap']
    assert not [(a, b) for a in plots for b in edges[a] if b in plots]


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert cycle({'a': {'b'}, 'b': set()}) is None


def test_few_files_at_the_top_and_none_too_long():
    top = [m for m, p in product_files().items() if os.path.dirname(p) == ROOT]
    assert len(top) <= MAX_TOP_LEVEL, top
    long = {os.path.relpath(p, ROOT): n for p in product_files().values()
            for n in [sum(1 for _ in open(p, encoding='utf-8'))] if n > MAX_LINES}
    assert not long


def test_every_product_module_is_imported_by_a_test():
    tests = os.path.join(ROOT, 'tests')
    imported = set()
    for name in os.listdir(tests):
        if name.endswith('.py'):
            imported |= imports(os.path.join(tests, name), '')
    untested = [m for m in product_files() if m not in imported
                and not m.endswith('__main__') and m not in PACKAGES]
    assert not untested


def copy_without_git(dest):
    """The tracked files as they are in the working tree, without .git: what a
    release tarball holds (git archive, but with uncommitted changes)."""
    files = subprocess.run(['git', '-C', ROOT, 'ls-files', '-z'], stdout=subprocess.PIPE,
                           check=True).stdout.decode().split('\0')
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if os.path.isfile(src):
            os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, f))


@pytest.mark.slow
def test_the_suite_runs_in_a_copy_without_git(tmp_path, mnist_dir):
    """In a tarball of the code (no .git), rows name the release, not a commit, and
    the tests that look at the code's version and shape pass there."""
    if not os.path.isdir(os.path.join(ROOT, '.git')):
        pytest.skip('this copy has no git: it is already such a copy (the test makes one '
                    'from a git checkout)')
    copy = tmp_path / 'pathnet'
    copy_without_git(str(copy))
    # Packed and unpacked, as a user would get it.
    with tarfile.open(tmp_path / 'release.tar.gz', 'w:gz') as tar:
        tar.add(str(copy), arcname='pathnet')
    shutil.rmtree(copy)
    with tarfile.open(tmp_path / 'release.tar.gz') as tar:
        tar.extractall(tmp_path)
    env = dict(os.environ, MNIST_DATA_DIR=mnist_dir, GIT_CEILING_DIRECTORIES=str(tmp_path))
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/test_structure.py',
         'tests/test_driver.py', '-k', 'code or not slow'],
        cwd=str(copy), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:]
    assert ' passed' in done.stdout.splitlines()[-1] and 'failed' not in done.stdout, done.stdout
