"""Drops the incomplete last batch (n // batch_size batches only).

fails: q1
message: never dropped
"""


def minibatch_indices(n, batch_size, rng):
    perm = rng.permutation(n)
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(n // batch_size)]
