# label: list(set(items)): loses the original order
# kind: wrong
def dedupe(items):
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    return list(set(items))
