# label: raises ValueError instead of TypeError for bad input
# kind: crash
def dedupe(items):
    if not isinstance(items, list):
        raise ValueError("expected a list")
    seen = set()
    out = []
    for x in items:
        try:
            new = x not in seen
        except TypeError:
            raise ValueError(f"unhashable item: {x!r}") from None
        if new:
            seen.add(x)
            out.append(x)
    return out
