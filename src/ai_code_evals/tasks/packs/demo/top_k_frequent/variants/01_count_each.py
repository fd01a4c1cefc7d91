# label: correct, counts each distinct word with list.count (O(n * distinct))
# kind: slow
def top_k_frequent(words, k):
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a list of strings")
    if not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 0:
        raise ValueError("k must not be negative")
    counts = {}
    for w in words:
        if w not in counts:
            counts[w] = words.count(w)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [w for w, _ in ranked[:k]]
