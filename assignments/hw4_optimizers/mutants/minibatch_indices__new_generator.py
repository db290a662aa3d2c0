"""Ignores the given generator and shuffles with a generator of its own (seeded with 0).

fails: q1
message: no new generator
"""
import numpy as np


def minibatch_indices(n, batch_size, rng):
    perm = np.random.default_rng(0).permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
