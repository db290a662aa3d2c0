"""Right batches, but draws a second permutation (e.g. a leftover debugging line), which
advances the caller's generator and changes every later epoch.

fails: q1
message: not the state after exactly one call
"""


def minibatch_indices(n, batch_size, rng):
    perm = rng.permutation(n)
    rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]
