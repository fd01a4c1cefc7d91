# label: correct, O(n) loop with a set, but no type check (splits a string into characters)
# kind: fragile
def dedupe(items):
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
