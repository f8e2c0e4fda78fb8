"""The statistics of the plot scripts, with NumPy and SciPy (no matplotlib, no TensorFlow):
what SciPy does (t quantiles, the paired bootstrap, the binomial and Kolmogorov-Smirnov
tests) is SciPy's; this module keeps what SciPy lacks: the censoring rule and restricted
means, exact permutation tests of integer data at any size (SciPy's permutation_test
enumerates only small samples and otherwise draws at random, so its decisions depend on a
seed), Holm's correction, and the chance distribution of the overlap of two random paths.

Every significance decision of the plot scripts is an exact test: it does not depend on a
resampling seed. Bootstrap resamples give the confidence intervals only.
"""
import math
from fractions import Fraction

import numpy as np
import scipy.special
import scipy.stats


def comb(n, k):
    """The binomial coefficient, exactly (math.comb is Python 3.8+; TF 1.15 needs 3.7)."""
    return int(scipy.special.comb(n, k, exact=True)) if 0 <= k <= n else 0


# ---------------------------------------------------------------------------
# Means and pairing.

def t975(df):
    """Student's t 97.5% quantile for df >= 1 degrees of freedom."""
    return float(scipy.stats.t.ppf(0.975, df))


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
# Censoring. A run's task ends at the threshold, at the cap (--max_steps), or when its
# loss diverges: a level it had not reached by then is censored at the task's last
# generation (its true generation lies beyond it), not at the cap. A comparison is made
# at a horizon tau every one of its runs reached: the smallest generation at which one
# of them was censored. min(generation, tau) is then known for every run, and the
# restricted mean, mean(min(generation, tau)), estimates E[min(T, tau)].

def censor(generation, reached, last):
    """A run's (generations to a level, censored): the level's generation if reached,
    else the task's last generation, censored there."""
    return (int(generation), False) if reached else (int(last), True)


def horizon(generations, censored):
    """tau: the smallest generation at which a run was censored; None if none was (then
    every run's generation is known and the means are plain means)."""
    g = np.asarray(generations, float)[np.asarray(censored, bool)]
    return int(g.min()) if len(g) else None


def restrict(generations, tau):
    """min(generations, tau), as floats (tau None: the generations themselves)."""
    g = np.asarray(generations, float)
    return g if tau is None else np.minimum(g, tau)


def restricted_mean(generations, tau):
    """The restricted mean at tau, mean(min(generations, tau)): the area under the
    Kaplan-Meier curve up to tau when no run is censored before tau."""
    return float(restrict(generations, tau).mean())


def truncated(generations, censored, tau):
    """Runs whose restricted generation is below their true one: censored runs, and runs
    that reached the level after tau."""
    g = np.asarray(generations, float)
    return int(np.sum(np.asarray(censored, bool) | (tau is not None) & (g > (tau or 0))))


def ratio_bound(control_truncated, pathnet_truncated):
    """What mean(control)/mean(pathnet) restricted at tau is to the unrestricted ratio,
    given how many runs of each side tau cut short: 'lower' (only the control's: its mean
    is too small), 'upper' (only pathnet's), None when both are (a ratio of restricted
    means, no bound) or neither (an estimate)."""
    if bool(control_truncated) == bool(pathnet_truncated):
        return None
    return 'lower' if control_truncated else 'upper'


def censored_count(table):
    """Runs whose task 2 did not converge, and the smallest generation one of them
    stopped at (the horizon tau): table is {control: {'g2': generations, 'censored':
    bool array}}."""
    capped = [t['g2'][t['censored']] for t in table.values()]
    n = sum(map(len, capped))
    return n, int(min(g.min() for g in capped if len(g))) if n else 0


# ---------------------------------------------------------------------------
# Exact permutation tests of integer data (generations are whole numbers).

def integers(x):
    x = np.asarray(x, float)
    if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
        raise ValueError('exact permutation tests need whole numbers')
    return x.astype(np.int64)


def sign_flip_p(differences):
    """Exact two-sided p of a paired permutation test: under H0 a seed's two runs are
    exchangeable, so each paired difference d_i keeps or flips its sign with probability
    1/2, independently: p = P(|sum s_i d_i| >= |sum d_i|) over all 2^n sign vectors.
    Swapping a pair's runs leaves sum(control) + sum(pathnet) unchanged, so the test of
    the mean difference is also the test of mean(control) / mean(pathnet) = 1. The
    2^n vectors are counted by the distribution of the sum of the |d_i| kept positive
    (a product of n two-point distributions, built by shift-and-add), exact at any n."""
    d = np.abs(integers(differences))
    total = int(d.sum())
    dist = np.zeros(total + 1)
    dist[0], top = 1.0, 0
    for k in d:
        if k:
            dist[k:top + k + 1] += dist[:top + 1].copy()
            dist /= 2
            top += k
    observed = abs(int(np.sum(integers(differences))))
    flipped = np.abs(2 * np.arange(total + 1) - total)   # |sum s_i d_i| for each sum kept
    return float(min(1.0, dist[flipped >= observed].sum()))


def two_sample_p(a, b):
    """Exact two-sided p of the permutation test of mean(a) - mean(b) for two unpaired
    samples: over all C(n_a + n_b, n_a) splits of the pooled values, the share whose
    |difference of means| is at least the observed one. The splits are counted by the
    sum of the first sample (the difference is linear in it), by dynamic programming."""
    a, b = integers(a), integers(b)
    pooled = np.concatenate([a, b])
    values, n = pooled - pooled.min(), len(a)
    total = int(values.sum())
    ways = np.zeros((n + 1, total + 1))
    ways[0, 0] = 1.0
    for i, v in enumerate(values):
        for k in range(min(i + 1, n), 0, -1):   # k descending: each value used once
            ways[k, v:] += ways[k - 1, :total + 1 - v]
    dist = ways[n] / ways[n].sum()
    centre = n * total / len(values)
    observed = abs(values[:n].sum() - centre)
    return float(min(1.0, dist[np.abs(np.arange(total + 1) - centre) >= observed - 1e-9].sum()))


def ks_2samp(a, b):
    """The Kolmogorov-Smirnov distance of two samples and its exact two-sided p (SciPy)."""
    r = scipy.stats.ks_2samp(np.asarray(a, float), np.asarray(b, float), method='exact')
    return float(r.statistic), float(r.pvalue)


# ---------------------------------------------------------------------------
# Paired comparisons.

def ratio_of_means(control, pathnet, axis=-1):
    return np.mean(control, axis=axis) / np.mean(pathnet, axis=axis)


def difference_of_means(control, pathnet, axis=-1):
    return np.mean(control, axis=axis) - np.mean(pathnet, axis=axis)


def bootstrap(control, pathnet, resamples, seed):
    """The paired bootstrap (SciPy, percentile intervals; seeds resampled as pairs: a
    seed's two runs share task 1) of mean(control)/mean(pathnet) and of the mean paired
    difference, each with its 95% CI (NaN from fewer than 2 pairs), and p, the exact
    sign-flip p of ratio = 1 (sign_flip_p): the decision does not depend on the
    resampling seed, the intervals do, slightly."""
    control, pathnet = np.asarray(control, float), np.asarray(pathnet, float)
    out = {'ratio': ratio_of_means(control, pathnet),
           'diff': difference_of_means(control, pathnet),
           'p': sign_flip_p(control - pathnet)}
    for name, statistic in (('ci', ratio_of_means), ('diff_ci', difference_of_means)):
        if len(control) < 2:
            out[name] = np.array([np.nan, np.nan])
            continue
        out[name] = np.array(scipy.stats.bootstrap(
            (control, pathnet), statistic, paired=True, vectorized=True,
            n_resamples=resamples, method='percentile', random_state=seed).confidence_interval)
    return out


def bootstrap_ratio(control, pathnet, resamples, seed):
    """bootstrap() as (ratio, its 95% CI, mean difference, its 95% CI)."""
    b = bootstrap(control, pathnet, resamples, seed)
    return b['ratio'], b['ci'], b['diff'], b['diff_ci']


def sign_test(control, pathnet):
    """Which run of each pair reached the level first, on generations restricted at tau
    (both at tau: neither is known to be first, a tie). Ties are dropped. Returns (control
    first, pathnet first, ties, SciPy's exact two-sided binomial p over the untied)."""
    c, p = np.asarray(control, float), np.asarray(pathnet, float)
    first, second = int(np.sum(c < p)), int(np.sum(p < c))
    n = first + second
    return (first, second, len(c) - n,
            float(scipy.stats.binomtest(first, n).pvalue) if n else 1.0)


def compare(control, pathnet, control_censored, pathnet_censored, tau, resamples, seed):
    """Control against PathNet on paired runs (generations, censored flags) restricted at
    tau (None: no run censored): bootstrap()'s ratio of restricted means, CIs and exact
    p; the restricted means; the censored and truncated runs of each side; tau; the sign
    test."""
    c, p = restrict(control, tau), restrict(pathnet, tau)
    out = bootstrap(c, p, resamples, seed)
    out.update(n=len(c), means=(float(c.mean()), float(p.mean())), tau=tau,
               censored=(int(np.sum(control_censored)), int(np.sum(pathnet_censored))),
               truncated=(truncated(control, control_censored, tau),
                          truncated(pathnet, pathnet_censored, tau)),
               sign=sign_test(c, p))
    return out


def holm(pvalues, alpha=0.05):
    """Holm's step-down procedure over a family of tests (SciPy has none): with the
    p-values sorted, p_(1) <= ... <= p_(m), reject while p_(i) <= alpha / (m - i + 1) and
    stop at the first that is not. Returns (rejected, Holm-adjusted p-values), both in the
    order given."""
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
