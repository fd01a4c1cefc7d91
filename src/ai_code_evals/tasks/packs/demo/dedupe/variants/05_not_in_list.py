# label: correct, O(n^2): `not in` on the result list
# kind: slow
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    result = []
    for item in items:
        hash(item)  # reject unhashable items like the spec says
        if item not in result:
            result.append(item)
    return result
