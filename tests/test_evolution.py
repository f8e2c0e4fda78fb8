"""The evolutionary operators on paths (pure NumPy)."""
import numpy as np
import pytest

from pathnet import mutate, path_mask, random_population
from results_log import overlap, path_modules, path_text


def test_random_population_draws_n_genes_per_layer_in_range():
    rng = np.random.default_rng(0)
    pop = random_population(rng, 5000, 3, 10, 3)
    assert pop.shape == (5000, 3, 3)
    assert pop.min() == 0 and pop.max() == 9
    distinct = np.array([[len(set(layer)) for layer in p] for p in pop])
    # N draws with replacement: 1..N distinct modules, never N+1 (2017 defect)
    assert distinct.min() == 1 and distinct.max() == 3
    # P(all 3 distinct) = 10*9*8/1000 = 0.72
    assert abs((distinct == 3).mean() - 0.72) < 0.02
    assert abs(np.bincount(pop.ravel(), minlength=10) / pop.size - 0.1).max() < 0.01


def test_mutation_probability_is_one_over_genes_and_shift_in_range():
    rng = np.random.default_rng(1)
    M, trials = 10, 40000
    path = np.full((3, 3), 5)
    changed, shifts = 0, []
    for _ in range(trials):
        child = mutate(path, rng, M)
        diff = child - path
        changed += np.count_nonzero(diff)
        shifts.extend(diff[diff != 0].tolist())
    # a gene is hit with p = 1/9 and then moves by 0 with p = 1/5
    expected = trials * 9 * (1 / 9) * (4 / 5)
    assert abs(changed - expected) < 4 * np.sqrt(expected)
    counts = {s: shifts.count(s) for s in set(shifts)}
    assert set(counts) == {-2, -1, 1, 2}
    for s in counts:
        assert abs(counts[s] / len(shifts) - 0.25) < 0.02


def test_mutation_wraps_modulo_m_and_leaves_parent_alone():
    rng = np.random.default_rng(2)
    parent = np.array([[0, 9, 1]])
    seen = set()
    for _ in range(3000):
        child = mutate(parent, rng, 10)
        assert child.min() >= 0 and child.max() <= 9
        seen.update(child[0].tolist())
    assert {8, 9, 0, 1, 2, 3}.issubset(seen)      # 0-2 -> 8, 9+2 -> 1, ...
    assert parent.tolist() == [[0, 9, 1]]


def test_path_mask_and_overlap():
    a = path_mask(np.array([[1, 1, 3], [0, 2, 4]]), 5)
    b = path_mask(np.array([[3, 4, 4], [2, 2, 2]]), 5)
    assert a.tolist() == [[0, 1, 0, 1, 0], [1, 0, 1, 0, 1]]
    assert overlap(a, b) == 2        # (0, 3) and (1, 2)
    assert overlap(a, a) == 5
    assert overlap(a, np.zeros_like(a)) == 0


@pytest.mark.parametrize('text', ['1-4-7|0-2|3-5-9', '0|0|0', '9|8-9|0-1-2'])
def test_mask_string_round_trip(text):
    modules = path_modules(text, L=3, M=10, N=3)
    mask = np.zeros((3, 10), np.float32)
    for layer, active in enumerate(modules):
        mask[layer, active] = 1.0
    assert path_text(mask) == text
