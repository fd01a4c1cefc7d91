# label: correct, O(n) dict.fromkeys, but no type check (splits a string into characters)
# kind: fragile
def dedupe(items):
    return list(dict.fromkeys(items))
