# label: correct, flag table for non-negative ints sized by the largest value (lots of memory)
# kind: memory
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    if items and all(type(x) is int and x >= 0 for x in items):
        # fast path for small non-negative ints: a flag per possible value, no hashing
        flags = [False] * (max(items) + 1)
        out = []
        for x in items:
            if not flags[x]:
                flags[x] = True
                out.append(x)
        return out
    seen = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out
