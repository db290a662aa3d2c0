"""Draws the permutation, then shuffles it again with the same generator.

fails: q1
message: exactly once
"""


def minibatch_indices(n, batch_size, rng):
    perm = rng.permutation(n)
    rng.shuffle(perm)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
