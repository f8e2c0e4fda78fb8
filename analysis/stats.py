"""The statistics of the plot scripts, with NumPy and the standard library only (no
matplotlib, no TensorFlow, no SciPy): t intervals, pairing by seed, the paired bootstrap
of a ratio of means and its p-value, the censoring rules (a level never reached counts at
the cap), the paired sign test, Holm's correction, and the chance distribution of the
overlap of two random paths.
"""
import math
from fractions import Fraction

import numpy as np

# Student's t, 97.5% quantile, for 1..30 degrees of freedom: NumPy has no t distribution.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def comb(n, k):
    """math.comb, which is Python 3.8+ (TensorFlow 1.15 needs 3.7)."""
    return math.factorial(n) // math.factorial(k) // math.factorial(n - k) if 0 <= k <= n else 0


# ---------------------------------------------------------------------------
# Means and pairing.

def t975(df):
    """Student's t 97.5% quantile for df >= 1 degrees of freedom."""
    # Beyond the table, the Cornish-Fisher expansion is within 0.001 of t.
    return T975[df - 1] if df <= 30 else 1.959964 + 2.372234 / df + 2.822445 / df ** 2


def mean_ci(x):
    """Mean and the half-width of its 95% t-interval (None from a single run)."""
    if len(x) < 2:
        return x.mean(), None
    return x.mean(), t975(len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))


def standard_error(x):
    """The standard error of the mean of x; 0 from a single run."""
    return float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0


def paired(a, b):
    """Indices into a and b (each with a sorted 'seed' array) of the seeds run under both
    conditions, in the same order."""
    common = np.intersect1d(a['seed'], b['seed'])
    return np.searchsorted(a['seed'], common), np.searchsorted(b['seed'], common)


# ---------------------------------------------------------------------------
# Censoring: a run stops at the cap (max_steps generations); a level it never reached
# within the cap is known only to lie beyond it.

def at_cap(generations, reached, cap):
    """A run's generations to a level, and whether it is censored: a level never reached
    counts at the cap (whatever generations says: a diverged run stops early, but it never
    reached the level either)."""
    return (min(int(generations), cap), False) if reached else (cap, True)


def restricted_mean(generations, cap):
    """The restricted mean at the cap (RMST): the mean of min(generations, cap). With
    every censored run censored at the cap, it is the area under the Kaplan-Meier curve up
    to the cap: an estimate of E[min(T, cap)], not a bound on E[T]."""
    return float(np.minimum(np.asarray(generations, float), cap).mean())


def ratio_bound(control_censored, pathnet_censored):
    """What mean(control)/mean(pathnet) at the cap is to the uncapped ratio, given how many
    runs of each side are censored: 'lower' (only the control's: its mean is too small),
    'upper' (only pathnet's), None when both are (a ratio of restricted means, no bound)
    or neither (an estimate)."""
    if bool(control_censored) == bool(pathnet_censored):
        return None
    return 'lower' if control_censored else 'upper'


def censored_count(table):
    """Runs whose task 2 did not converge, and the cap they are counted at: table is
    {control: {'g2': generations, 'censored': bool array}}."""
    capped = [t['g2'][t['censored']] for t in table.values()]
    return sum(map(len, capped)), int(max(g.max(initial=0) for g in capped))


# ---------------------------------------------------------------------------
# Paired tests.

def bootstrap(control, pathnet, resamples, seed):
    """The paired bootstrap of mean(control)/mean(pathnet): seeds are resampled as pairs
    (a seed's two runs share task 1, so they are not independent, and keeping them together
    removes the seed-to-seed variation). Returns a dict: the ratio and the mean paired
    difference, each with a 95% percentile CI, and p, the two-sided bootstrap p-value of
    ratio = 1: twice the smaller tail of the resampled ratios at 1, counted as
    (k + 1) / (resamples + 1), so never 0 (at least 2 / (resamples + 1)). p < 0.05 exactly
    when the 95% percentile interval excludes 1, up to the interpolation of percentiles."""
    control, pathnet = np.asarray(control, float), np.asarray(pathnet, float)
    idx = np.random.default_rng(seed).integers(0, len(control), size=(resamples, len(control)))
    ratios = control[idx].mean(axis=1) / pathnet[idx].mean(axis=1)
    diffs = (control - pathnet)[idx].mean(axis=1)
    tails = min(np.sum(ratios <= 1), np.sum(ratios >= 1)) + 1
    return {'ratio': control.mean() / pathnet.mean(), 'ci': np.percentile(ratios, [2.5, 97.5]),
            'diff': (control - pathnet).mean(), 'diff_ci': np.percentile(diffs, [2.5, 97.5]),
            'p': min(1.0, 2 * tails / (resamples + 1))}


def bootstrap_ratio(control, pathnet, resamples, seed):
    """bootstrap() as (ratio, its 95% CI, mean difference, its 95% CI)."""
    b = bootstrap(control, pathnet, resamples, seed)
    return b['ratio'], b['ci'], b['diff'], b['diff_ci']


def binomial_two_sided(k, n):
    """Exact two-sided p-value of k successes in n trials at probability 1/2 (the
    distribution is symmetric: twice the smaller tail, at most 1)."""
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(k, n - k) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def sign_test(control, pathnet, control_censored, pathnet_censored):
    """Which run of each pair reached the level first. A censored run never reached it
    (whatever its generations), so it loses to a run that did; a pair where both are
    censored, or both took as many generations, is a tie and is dropped. Returns (control
    first, pathnet first, ties, exact two-sided binomial p over the untied pairs)."""
    control_first = pathnet_first = ties = 0
    for c, p, cc, pc in zip(control, pathnet, control_censored, pathnet_censored):
        if cc and pc or (not cc and not pc and c == p):
            ties += 1
        elif pc or (not cc and c < p):
            control_first += 1
        else:
            pathnet_first += 1
    return (control_first, pathnet_first, ties,
            binomial_two_sided(control_first, control_first + pathnet_first))


def compare(control, pathnet, control_censored, pathnet_censored, cap, resamples, seed):
    """Control against PathNet on paired runs (generations at the cap, censored flags):
    bootstrap()'s ratio of (restricted) means, CI and p; the restricted means, the censored
    runs of each side, and the sign test."""
    out = bootstrap(control, pathnet, resamples, seed)
    out.update(n=len(control), means=(restricted_mean(control, cap),
                                      restricted_mean(pathnet, cap)),
               censored=(int(np.sum(control_censored)), int(np.sum(pathnet_censored))),
               sign=sign_test(control, pathnet, control_censored, pathnet_censored))
    return out


def holm(pvalues, alpha=0.05):
    """Holm's step-down procedure over a family of tests: with the p-values sorted,
    p_(1) <= ... <= p_(m), reject while p_(i) <= alpha / (m - i + 1) and stop at the first
    that is not. Returns (rejected, Holm-adjusted p-values), both in the order given."""
    p = np.asarray(pvalues, float)
    m = len(p)
    order = np.argsort(p, kind='stable')
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    return adjusted <= alpha, adjusted


# ---------------------------------------------------------------------------
# Overlap of two random paths.

def surjections(n, k):
    """Ways for n labelled draws to hit each of k given values at least once."""
    return sum((-1) ** t * comb(k, t) * (k - t) ** n for t in range(k + 1))


def chance_distribution(L, M, N):
    """P(overlap = 0..L*N) for two independent random paths, exactly.

    In one layer a path draws N genes from 0..M-1 with replacement; the set S
    of its active modules has k distinct elements with probability
    C(M, k) surj(N, k) / M^N and, given k, is any k-subset alike, so
    |S1 & S2| is hypergeometric given both sizes. Layers are independent:
    their distributions convolve."""
    size = [Fraction(comb(M, k) * surjections(N, k), M ** N) for k in range(N + 1)]
    layer = [Fraction(0)] * (N + 1)
    for k in range(1, min(N, M) + 1):
        for j in range(1, min(N, M) + 1):
            for i in range(min(k, j) + 1):
                layer[i] += size[k] * size[j] * Fraction(
                    comb(k, i) * comb(M - k, j - i), comb(M, j))
    dist = np.array([1.0])
    for _ in range(L):
        dist = np.convolve(dist, np.array(layer, dtype=float))
    return dist


def simulate_overlap(L, M, N, pairs, seed):
    """The distribution of chance_distribution, from `pairs` random pairs of paths."""
    genes = np.random.default_rng(seed).integers(0, M, size=(2, pairs, L, N))
    masks = np.zeros((2, pairs, L, M), bool)
    np.put_along_axis(masks, genes, True, axis=3)
    overlaps = (masks[0] & masks[1]).sum(axis=(1, 2))
    return np.bincount(overlaps, minlength=L * N + 1) / pairs


def chance_p_value(overlaps, dist):
    """P(mean overlap <= the observed mean) and P(mean overlap >= it) for as many pairs
    of random paths: their summed overlap has the len(overlaps)-fold convolution of dist
    (the exact distribution of the mean)."""
    total = np.array([1.0])
    for _ in overlaps:
        total = np.convolve(total, dist)
    observed = int(np.sum(overlaps))
    return (min(1.0, float(total[:observed + 1].sum())),
            min(1.0, float(total[observed:].sum())))


# ---------------------------------------------------------------------------
# Two samples that are not paired (e.g. the same seeds on two builds, whose rows
# differ): do they come from one distribution?

def permutation_test(a, b, statistic, resamples, seed):
    """Two-sided p-value of statistic(a, b) under exchangeability of the pooled values:
    (1 + #{|T*| >= |T|}) / (1 + resamples)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled, observed = np.concatenate([a, b]), abs(statistic(a, b))
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(resamples):
        p = rng.permutation(pooled)
        hits += abs(statistic(p[:len(a)], p[len(a):])) >= observed - 1e-12
    return (hits + 1) / (resamples + 1)


def mean_difference(a, b):
    return np.mean(a) - np.mean(b)


def ks_distance(a, b):
    """The largest gap between the two empirical distribution functions."""
    grid = np.union1d(a, b)
    cdf = [np.searchsorted(np.sort(x), grid, side='right') / len(x) for x in (a, b)]
    return float(np.max(np.abs(cdf[0] - cdf[1])))
