# label: correct, O(n), but no input checks (accepts floats)
# kind: fragile
def two_sum(nums, target):
    seen = {}
    for j, x in enumerate(nums):
        if target - x in seen:
            return [seen[target - x], j]
        seen.setdefault(x, j)
    return None
