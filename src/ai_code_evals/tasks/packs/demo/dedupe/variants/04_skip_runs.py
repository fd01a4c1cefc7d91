# label: skips runs of equal neighbours, advances the wrong index (loops forever on [7, 7, 7])
# kind: hang
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    seen = set()
    out = []
    i = 0
    while i < len(items):
        x = items[i]
        if x not in seen:
            seen.add(x)
            out.append(x)
        j = i
        while j + 1 < len(items) and items[j + 1] == x:
            i += 1  # skip the run of equal neighbours
        i = j + 1
    return out
