# label: correct, O(n) with dict.fromkeys, validates input
# kind: fast
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError(f"items must be a list, not {type(items).__name__}")
    return list(dict.fromkeys(items))
