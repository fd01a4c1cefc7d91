# label: correct, O(n), prints a line per new item
# kind: noisy
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    print(f"dedupe: {len(items)} items")
    seen = set()
    out = []
    for i, x in enumerate(items):
        if x not in seen:
            print(f"  [{i}] new item {x!r}")
            seen.add(x)
            out.append(x)
    print(f"dedupe: kept {len(out)}")
    return out
