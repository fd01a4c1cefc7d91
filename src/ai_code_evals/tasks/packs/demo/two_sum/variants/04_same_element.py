# label: stores each number before looking up its complement (pairs an element with itself)
# kind: wrong
def two_sum(nums, target):
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    index = {}
    for j, x in enumerate(nums):
        index.setdefault(x, j)
        if target - x in index:
            return [index[target - x], j]
    return None
