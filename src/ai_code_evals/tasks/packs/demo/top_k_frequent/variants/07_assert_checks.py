# label: checks input with assert (AssertionError instead of TypeError/ValueError)
# kind: crash
from collections import Counter


def top_k_frequent(words, k):
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), "words must be strings"
    assert isinstance(k, int) and k >= 0, "k must be a non-negative int"
    counts = Counter(words)
    return sorted(counts, key=lambda w: (-counts[w], w))[:k]
