# label: picks the best remaining word until it has k (loops forever when k > distinct words)
# kind: hang
def top_k_frequent(words, k):
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings")
    if not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 0:
        raise ValueError("k must not be negative")
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    result = []
    while len(result) < k:
        best = None
        for w, c in counts.items():
            if w in result:
                continue
            if best is None or (-c, w) < (-counts[best], best):
                best = w
        if best is not None:
            result.append(best)
    return result
