# label: correct, prints the running counts
# kind: noisy
def top_k_frequent(words, k):
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings")
    if not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 0:
        raise ValueError("k must not be negative")
    counts = {}
    for i, w in enumerate(words):
        counts[w] = counts.get(w, 0) + 1
        if i % 50 == 0:
            print(f"after {i + 1} words: {len(counts)} distinct, '{w}' seen {counts[w]} times")
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    print(f"top {k}: {ranked[:k]}")
    return ranked[:k]
