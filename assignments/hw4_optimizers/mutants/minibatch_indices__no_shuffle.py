"""Never shuffles: batches of 0..n-1 in order (rng unused).

fails: q1
message: call rng.permutation(n) exactly once
"""
import numpy as np


def minibatch_indices(n, batch_size, rng):
    idx = np.arange(n)
    return [idx[i:i + batch_size] for i in range(0, n, batch_size)]
