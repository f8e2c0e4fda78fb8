"""stats.py: known answers, without matplotlib or TensorFlow."""
import itertools
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from analysis import stats  # noqa: E402


def test_imports_neither_matplotlib_nor_tensorflow():
    code = ('import sys; from analysis import stats; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("matplotlib", "tensorflow", "scipy")))')
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

def test_a_level_never_reached_counts_at_the_cap():
    assert stats.at_cap(120, True, 1000) == (120, False)
    assert stats.at_cap('87', True, 1000) == (87, False)
    assert stats.at_cap(1000, False, 1000) == (1000, True)
    assert stats.at_cap(37, False, 1000) == (1000, True)    # diverged at 37: never reached
    assert stats.at_cap('', False, 500) == (500, True)


def test_restricted_mean_is_the_mean_of_min_generations_cap():
    assert stats.restricted_mean([100, 300, 1000], 1000) == pytest.approx(1400 / 3)
    assert stats.restricted_mean([100, 300, 1200], 1000) == pytest.approx(1400 / 3)


def test_ratio_bound_says_which_side_is_censored():
    assert stats.ratio_bound(3, 0) == 'lower'      # the control's mean is too small
    assert stats.ratio_bound(0, 2) == 'upper'      # pathnet's is
    assert stats.ratio_bound(3, 2) is None and stats.ratio_bound(0, 0) is None


def test_censored_count():
    table = {'pathnet': {'g2': np.array([100., 1000.]), 'censored': np.array([False, True])},
             'scratch': {'g2': np.array([500., 800.]), 'censored': np.array([True, True])}}
    assert stats.censored_count(table) == (3, 1000)
    none = {'pathnet': {'g2': np.array([100.]), 'censored': np.array([False])}}
    assert stats.censored_count(none) == (0, 0)


# ---------------------------------------------------------------------------
# The paired bootstrap and its p-value.

def test_bootstrap_of_constant_data_is_exact():
    b = stats.bootstrap(np.full(8, 150.0), np.full(8, 100.0), 999, 0)
    assert b['ratio'] == 1.5 and list(b['ci']) == [1.5, 1.5]
    assert b['diff'] == 50 and list(b['diff_ci']) == [50, 50]
    assert b['p'] == pytest.approx(2 / 1000)          # no resample at 1: the floor
    same = stats.bootstrap(np.full(8, 100.0), np.full(8, 100.0), 999, 0)
    assert same['ratio'] == 1 and same['p'] == 1


def test_bootstrap_p_is_two_sided_and_agrees_with_the_ci():
    rng = np.random.default_rng(3)
    pathnet = rng.uniform(50, 150, 30).round()
    for effect in (0.9, 0.95, 1.0, 1.05, 1.1, 1.3):
        control = (effect * pathnet * rng.uniform(0.7, 1.3, 30)).round()
        b = stats.bootstrap(control, pathnet, 4000, 1)
        back = stats.bootstrap(pathnet, control, 4000, 1)   # the same resamples, upside down
        assert b['p'] == pytest.approx(back['p'])
        assert (b['ci'][0] > 1 or b['ci'][1] < 1) == (b['p'] < 0.05), (effect, b)
    # By hand: ratios of 4 resamples of 2 pairs: (a, a), (a, b), (b, a), (b, b).
    b = stats.bootstrap(np.array([300.0, 50.0]), np.array([100.0, 100.0]), 2000, 0)
    below = 0.25 * 2000   # only the (b, b) resample has a ratio (0.5) below 1
    assert b['p'] == pytest.approx(2 * (below + 1) / 2001, abs=0.03)


def test_bootstrap_ratio_is_bootstrap():
    c, p = np.array([120.0, 90, 200, 150]), np.array([100.0, 100, 100, 120])
    ratio, ci, diff, dci = stats.bootstrap_ratio(c, p, 500, 4)
    b = stats.bootstrap(c, p, 500, 4)
    assert ratio == b['ratio'] and list(ci) == list(b['ci']) and diff == b['diff']


# ---------------------------------------------------------------------------
# The sign test.

@pytest.mark.parametrize('k,n,p', [(0, 5, 2 / 32), (1, 10, 2 * 11 / 1024),
                                   (9, 10, 2 * 11 / 1024), (3, 6, 1.0), (0, 0, 1.0),
                                   (0, 1, 1.0), (2, 20, 2 * 211 / 2 ** 20)])
def test_binomial_two_sided_by_hand(k, n, p):
    assert stats.binomial_two_sided(k, n) == pytest.approx(p, rel=1e-12)


def test_sign_test_drops_ties_and_knows_who_finished():
    control = [50, 100, 1000, 1000, 70, 1000, 40]
    pathnet = [60, 100, 1000, 300, 90, 1000, 1000]
    c_cens = [False, False, True, True, False, False, False]
    p_cens = [False, False, True, False, False, True, True]
    # pairs: control first, tie (equal), tie (both censored), pathnet first (control
    # censored), control first, control first (finished at the cap, pathnet did not),
    # control first
    assert stats.sign_test(control, pathnet, c_cens, p_cens) == (4, 1, 2, 0.375)


def test_a_censored_run_never_finished_first_whatever_its_generations():
    # A diverged run stops early (37 generations) without reaching the level.
    assert stats.sign_test([37], [500], [True], [False])[:3] == (0, 1, 0)
    assert stats.sign_test([500], [37], [False], [True])[:3] == (1, 0, 0)
    assert stats.sign_test([37], [37], [True], [True])[:3] == (0, 0, 1)


def test_compare_collects_the_censoring():
    # The last pair: the control solved it at the cap itself, pathnet never did.
    t = stats.compare(np.array([1000, 200, 1000, 300, 1000.]),
                      np.array([100, 100, 1000, 1000, 1000.]),
                      [True, False, True, False, False], [False, False, True, True, True],
                      1000, 200, 0)
    assert t['n'] == 5 and t['censored'] == (2, 3)
    assert t['means'] == pytest.approx((700, 640))
    assert t['ratio'] == pytest.approx(700 / 640)
    assert t['sign'] == (2, 2, 1, 1.0)


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
