# label: correct, O(n) with a set of seen items
# kind: fast
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError(f"items must be a list, not {type(items).__name__}")
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
