# label: correct, O(n) hash map, validates input
# kind: fast
def two_sum(nums, target):
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    first = {}
    for j, x in enumerate(nums):
        i = first.get(target - x)
        if i is not None:
            return [i, j]
        first.setdefault(x, j)
    return None
