"""Draws a second permutation after the batches' own (a leftover debugging line, say).

The batches are right, but the caller's generator advances twice: every later epoch changes.

fails: q1
message: not the state after exactly one call
"""


def minibatch_indices(n, batch_size, rng):
    perm = rng.permutation(n)
    rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
