"""stats.py: known answers, without matplotlib or TensorFlow."""
import itertools
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import scipy
import scipy.stats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from analysis import stats  # noqa: E402


SCIPY = tuple(int(x) for x in scipy.__version__.split('.')[:2])
NEEDS_SCIPY_1_8 = pytest.mark.skipif(SCIPY < (1, 8), reason='scipy.stats.permutation_test '
                                     'is SciPy 1.8+ (Python 3.7 gets 1.7)')


def test_imports_neither_matplotlib_nor_tensorflow():
    code = ('import sys; from analysis import stats; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("matplotlib", "tensorflow")))')
    done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '[]\n'


# ---------------------------------------------------------------------------
# Chance overlap.

def enumerate_overlap(L, M, N):
    """P(overlap = k) over every pair of genomes, by brute force."""
    counts = np.zeros(L * N + 1, dtype=object)
    for a, b in itertools.product(itertools.product(range(M), repeat=L * N), repeat=2):
        counts[sum(len(set(a[l * N:(l + 1) * N]) & set(b[l * N:(l + 1) * N]))
                   for l in range(L))] += 1
    return [float(Fraction(int(c), M ** (2 * L * N))) for c in counts]


@pytest.mark.parametrize('L,M,N', [(1, 4, 3), (2, 2, 2), (1, 3, 1)])
def test_chance_distribution_sums_to_one_and_matches_enumeration(L, M, N):
    dist = stats.chance_distribution(L, M, N)
    assert dist.sum() == pytest.approx(1, abs=1e-12)
    assert dist == pytest.approx(enumerate_overlap(L, M, N), abs=1e-12)


def test_surjections_and_comb_by_hand():
    assert [stats.surjections(3, k) for k in range(4)] == [0, 1, 6, 6]
    assert stats.comb(5, 2) == 10 and stats.comb(2, 5) == 0 and stats.comb(4, 0) == 1


def test_p_value_of_the_mean_matches_enumeration():
    # Three pairs of one-layer paths with M=2, N=2: the summed overlap, enumerated.
    layer = stats.chance_distribution(1, 2, 2)
    overlaps = np.array([0, 1, 0])
    lower = upper = 0.0
    for ks in itertools.product(range(3), repeat=3):
        p = np.prod([layer[k] for k in ks])
        lower += p * (sum(ks) <= 1)
        upper += p * (sum(ks) >= 1)
    assert stats.chance_p_value(overlaps, layer) == pytest.approx((lower, upper))


# ---------------------------------------------------------------------------
# Means, t intervals, pairing.

@pytest.mark.parametrize('df,t', [(1, 12.706), (9, 2.262), (29, 2.045), (30, 2.042),
                                  (40, 2.021), (60, 2.000), (120, 1.980), (10 ** 6, 1.960)])
def test_t975_against_known_quantiles(df, t):
    assert stats.t975(df) == pytest.approx(t, abs=1.5e-3)


def test_mean_ci_and_standard_error():
    x = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])    # sd 3.0277, 9 degrees of freedom
    mean, half = stats.mean_ci(x)
    assert mean == 5.5 and half == pytest.approx(2.262 * 3.02765 / np.sqrt(10), rel=1e-4)
    assert stats.standard_error(x) == pytest.approx(3.02765 / np.sqrt(10), rel=1e-4)
    assert stats.mean_ci(np.array([4.0]))[1] is None and stats.standard_error([4]) == 0


def test_paired_takes_the_seeds_of_both_in_order():
    a, b = {'seed': np.array([1, 3, 5, 7])}, {'seed': np.array([0, 2, 3, 4, 7, 9])}
    ia, ib = stats.paired(a, b)
    assert list(ia) == [1, 3] and list(ib) == [2, 4]


# ---------------------------------------------------------------------------
# Censoring.

def test_a_level_not_reached_is_censored_at_the_tasks_end_not_at_the_cap():
    assert stats.censor(120, True, 300) == (120, False)
    assert stats.censor('87', True, 300) == (87, False)
    assert stats.censor(0, False, 150) == (150, True)      # stopped at its threshold, 150
    assert stats.censor('', False, '1000') == (1000, True)


def test_the_horizon_is_the_earliest_censoring_and_every_run_is_known_below_it():
    g, censored = [40, 150, 300, 120], [False, True, False, True]
    assert stats.horizon(g, censored) == 120
    assert stats.horizon([40, 300], [False, False]) is None
    assert list(stats.restrict(g, 120)) == [40, 120, 120, 120]
    assert list(stats.restrict(g, None)) == g
    assert stats.restricted_mean(g, 120) == pytest.approx(400 / 4)
    # cut short: the censored runs, and 300 (reached after tau)
    assert stats.truncated(g, censored, 120) == 3 and stats.truncated(g, censored, None) == 2


def test_ratio_bound_says_which_side_is_cut_short():
    assert stats.ratio_bound(3, 0) == 'lower'      # the control's mean is too small
    assert stats.ratio_bound(0, 2) == 'upper'      # pathnet's is
    assert stats.ratio_bound(3, 2) is None and stats.ratio_bound(0, 0) is None


def test_censored_count():
    table = {'pathnet': {'g2': np.array([100., 1000.]), 'censored': np.array([False, True])},
             'scratch': {'g2': np.array([500., 800.]), 'censored': np.array([True, True])}}
    assert stats.censored_count(table) == (3, 500)
    none = {'pathnet': {'g2': np.array([100.]), 'censored': np.array([False])}}
    assert stats.censored_count(none) == (0, 0)


def test_compare_restricts_both_sides_at_tau():
    # pathnet's run 2 stopped at its threshold (150) before reaching the level: censored
    # there, so tau = 150 and the control's 400 counts as 150, not pathnet's as the cap.
    t = stats.compare([10, 400, 20, 30], [12, 150, 25, 30], [False, False, False, False],
                      [False, True, False, False], 150, 200, 0)
    assert t['tau'] == 150 and t['censored'] == (0, 1) and t['truncated'] == (1, 1)
    assert t['means'] == pytest.approx(((10 + 150 + 20 + 30) / 4, (12 + 150 + 25 + 30) / 4))
    assert t['sign'] == (2, 0, 2, 0.5)             # both at tau: a tie, as equal ones


# ---------------------------------------------------------------------------
# Exact tests.

def brute_sign_flip(d):
    d = np.asarray(d, float)
    flips = np.array(list(itertools.product([1, -1], repeat=len(d))))
    return np.mean(np.abs(flips @ d) >= abs(d.sum()) - 1e-9)


@pytest.mark.parametrize('d', [[3, -1, 4, 0, -5, 9, 2], [5] * 6, [0, 0], [7, -7],
                               [120, -30, 45, 3, 0, 88, -2, 61, 14]])
def test_sign_flip_p_is_the_exact_enumeration(d):
    assert stats.sign_flip_p(d) == pytest.approx(brute_sign_flip(d), abs=1e-12)


@NEEDS_SCIPY_1_8
def test_sign_flip_p_agrees_with_scipys_exact_paired_permutation_test():
    rng = np.random.default_rng(5)
    c, p = rng.integers(50, 250, 12), rng.integers(50, 250, 12)
    ref = scipy.stats.permutation_test((c, p), lambda x, y: np.mean(x - y), vectorized=False,
                                       permutation_type='samples', n_resamples=np.inf)
    assert stats.sign_flip_p(c - p) == pytest.approx(ref.pvalue, abs=1e-12)


def test_sign_flip_p_is_fast_and_exact_at_50_seeds():
    d = np.full(50, 3)
    assert stats.sign_flip_p(d) == pytest.approx(2 / 2 ** 50, rel=1e-9)
    d = np.random.default_rng(2).integers(-300, 300, 50)
    assert 0 < stats.sign_flip_p(d) <= 1
    assert stats.sign_flip_p(d) == pytest.approx(stats.sign_flip_p(-d))
    with pytest.raises(ValueError):
        stats.sign_flip_p([1.5, 2])


def test_two_sample_p_is_the_exact_enumeration():
    a, b = [3, 5, 9, 9], [1, 2, 2, 7, 8]
    pool, hits = np.array(a + b), []
    for idx in itertools.combinations(range(9), 4):
        m = np.isin(np.arange(9), idx)
        hits.append(abs(pool[m].mean() - pool[~m].mean()) >= abs(np.mean(a) - np.mean(b)) - 1e-9)
    assert stats.two_sample_p(a, b) == pytest.approx(np.mean(hits), abs=1e-12)


@NEEDS_SCIPY_1_8
def test_two_sample_p_agrees_with_scipys_exact_permutation_test():
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 30, 7), rng.integers(5, 40, 6)
    # |difference| >= observed (SciPy's 'two-sided' doubles the smaller tail instead)
    ref = scipy.stats.permutation_test((a, b), lambda x, y: abs(np.mean(x) - np.mean(y)),
                                       vectorized=False, n_resamples=np.inf,
                                       alternative='greater')
    assert stats.two_sample_p(a, b) == pytest.approx(ref.pvalue, abs=1e-12)


# ---------------------------------------------------------------------------
# The paired bootstrap (intervals) and the decisions (exact, seed-free).

def test_bootstrap_of_constant_data_is_exact():
    b = stats.bootstrap(np.full(8, 150.0), np.full(8, 100.0), 999, 0)
    assert b['ratio'] == 1.5 and list(b['ci']) == [1.5, 1.5]
    assert b['diff'] == 50 and list(b['diff_ci']) == [50, 50]
    assert b['p'] == pytest.approx(2 / 2 ** 8)          # exact: all 8 flips alike
    same = stats.bootstrap(np.full(8, 100.0), np.full(8, 100.0), 999, 0)
    assert same['ratio'] == 1 and same['p'] == 1


def test_a_decision_does_not_change_with_the_resampling_seed():
    rng = np.random.default_rng(3)
    pathnet = rng.uniform(50, 150, 20).round()
    for effect in (0.8, 0.9, 0.95, 1.0, 1.1, 1.3):
        control = (effect * pathnet * rng.uniform(0.7, 1.3, 20)).round()
        runs = [stats.bootstrap(control, pathnet, 300, seed) for seed in range(10)]
        assert len({r['p'] for r in runs}) == 1, effect
        assert len({tuple(r['ci']) for r in runs}) > 1      # the intervals are resampled
        back = stats.bootstrap(pathnet, control, 300, 0)     # two-sided
        assert back['p'] == pytest.approx(runs[0]['p'])


def test_bootstrap_ratio_is_bootstrap():
    c, p = np.array([120.0, 90, 200, 150]), np.array([100.0, 100, 100, 120])
    ratio, ci, diff, dci = stats.bootstrap_ratio(c, p, 500, 4)
    b = stats.bootstrap(c, p, 500, 4)
    assert ratio == b['ratio'] and list(ci) == list(b['ci']) and diff == b['diff']


def test_sign_test_drops_ties_and_uses_scipys_binomial():
    control = [50, 100, 150, 150, 70, 40]
    pathnet = [60, 100, 150, 120, 90, 150]
    assert stats.sign_test(control, pathnet) == (3, 1, 2, 0.625)
    assert stats.sign_test([5], [5]) == (0, 0, 1, 1.0)


# ---------------------------------------------------------------------------
# Holm.

def test_holm_by_hand():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06 (stop), 0.04 x 1 -> 0.06.
    rejected, adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert list(rejected) == [True, False, False, True]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_is_step_down_between_bonferroni_and_hochberg():
    # Bonferroni (0.05 / 2 each) rejects only the first; Holm both.
    assert list(stats.holm([0.013, 0.03])[0]) == [True, True]
    # The smallest fails 0.05 / 2, so Holm stops: nothing (Hochberg would reject both).
    assert list(stats.holm([0.03, 0.04])[0]) == [False, False]
    rejected, adjusted = stats.holm([0.5, 0.001, 0.9, 0.02], alpha=0.1)
    assert list(rejected) == [False, True, False, True]
    assert adjusted == pytest.approx([1.0, 0.004, 1.0, 0.06])
    assert list(stats.holm([])[0]) == []
