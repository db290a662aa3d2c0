"""Samples indices with replacement (rng.integers) instead of a permutation.

fails: q1
message: no sampling with replacement
"""


def minibatch_indices(n, batch_size, rng):
    idx = rng.integers(0, n, size=n)
    return [idx[i:i + batch_size] for i in range(0, n, batch_size)]
