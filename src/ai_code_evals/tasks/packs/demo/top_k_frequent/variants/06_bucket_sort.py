# label: correct, bucket sort with one list per possible count (lots of memory)
# kind: memory
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
    buckets = [[] for _ in range(len(words) + 1)]
    for w, c in counts.items():
        buckets[c].append(w)
    result = []
    for c in range(len(words), 0, -1):
        for w in sorted(buckets[c]):
            if len(result) == k:
                return result
            result.append(w)
    return result
