# label: Counter.most_common(k): ties come in first-seen order, not alphabetical
# kind: wrong
from collections import Counter


def top_k_frequent(words, k):
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings")
    if not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 0:
        raise ValueError("k must not be negative")
    return [w for w, _ in Counter(words).most_common(k)]
