# label: correct, Counter and one sort, validates input
# kind: fast
from collections import Counter


def top_k_frequent(words, k):
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings")
    if not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 0:
        raise ValueError("k must not be negative")
    counts = Counter(words)
    return sorted(counts, key=lambda w: (-counts[w], w))[:k]
