"""The statistics of plot_benefits beyond stats.py: accuracies as whole numbers, the
paired difference of means with its exact test, and a seeds bootstrap of any statistic
of a table of runs (the learning-rate spread).

Accuracies are logged with 4 decimals, so UNIT * accuracy is a whole number and the exact
sign-flip test applies to them as to generations. stats.sign_flip_p counts the
distribution of sums over 0..sum|d|, which for an AUC in these units (up to 2 (G - 1)
UNIT per run) runs to tens of millions; sign_flip_p here meets in the middle instead: the
same exact p, in memory 2^(n/2)."""
import numpy as np
import scipy.stats

from analysis import stats

UNIT = 10000   # 1 / the logged accuracies' resolution


def accuracy_units(accuracies):
    return [int(round(a * UNIT)) for a in accuracies]


def signed_sums(d):
    """sum(s_i d_i) for every sign vector s, as an int64 array of 2^len(d)."""
    sums = np.zeros(1, np.int64)
    for x in d:
        sums = np.concatenate([sums + x, sums - x])
    return sums


def sign_flip_p(differences):
    """stats.sign_flip_p's exact two-sided p of the paired sign-flip test, P(|sum s_i d_i| >=
    |sum d_i|) over all 2^n sign vectors, for whole numbers of any size: the n differences
    are split in two halves, every signed sum of each is listed (2^(n/2) each), and the
    pairs of sums reaching the observed |sum| are counted by binary search."""
    d = stats.integers(differences)
    if len(d) > 40:   # 2^20 sums per half at most; beyond, the counting version
        return stats.sign_flip_p(d)
    observed = abs(int(d.sum()))
    if observed == 0:
        return 1.0
    a, b = signed_sums(d[:len(d) // 2]), np.sort(signed_sums(d[len(d) // 2:]))
    # a + b >= observed, or a + b <= -observed (disjoint, since observed > 0)
    hits = len(b) - np.searchsorted(b, observed - a, 'left') + \
        np.searchsorted(b, -observed - a, 'right')
    return float(min(1.0, hits.sum() / 2.0 ** len(d)))


def difference(pathnet, control, resamples, seed):
    """PathNet against a control on paired runs (whole numbers, in seed order): the mean
    paired difference pathnet - control, its 95% percentile CI from SciPy's paired bootstrap
    (NaN from fewer than 2 pairs), and the exact sign-flip p (no resampling seed in it)."""
    pathnet, control = np.asarray(pathnet, float), np.asarray(control, float)
    out = {'diff': float(stats.difference_of_means(pathnet, control)), 'n': len(pathnet),
           'p': sign_flip_p(pathnet - control), 'ci': np.array([np.nan, np.nan])}
    if len(pathnet) > 1:
        out['ci'] = np.array(scipy.stats.bootstrap(
            (pathnet, control), stats.difference_of_means, paired=True, vectorized=True,
            n_resamples=resamples, method='percentile', random_state=seed).confidence_interval)
    return out


def verdict(t):
    """'won' (Holm rejects, PathNet ahead), 'lost' (Holm rejects, behind) or 'neither'."""
    return ('won' if t['diff'] > 0 else 'lost') if t['holm'] else 'neither'


def mean_band(x):
    """The mean and its 95% t half-width (0 from a single run), for error bars."""
    mean, half = stats.mean_ci(np.asarray(x, float))
    return float(mean), float(half or 0)


def seeds_bootstrap(values, statistic, resamples, seed):
    """The percentile 95% CI of statistic(means) when the seeds are resampled together:
    values is an array [..., seeds] (every cell run on the same seeds, so a resample keeps
    each seed's runs together across cells); statistic maps means [B, ...] to [B] or
    [B, k]. Seeded: the same call gives the same interval."""
    values = np.asarray(values, float)
    n = values.shape[-1]
    rng = np.random.default_rng(seed)
    out = []
    for chunk in np.array_split(np.arange(resamples), max(1, resamples // 1000)):
        idx = rng.integers(0, n, size=(len(chunk), n))
        out.append(statistic(np.moveaxis(values[..., idx].mean(axis=-1), -1, 0)))
    return np.percentile(np.concatenate(out), [2.5, 97.5], axis=0)
