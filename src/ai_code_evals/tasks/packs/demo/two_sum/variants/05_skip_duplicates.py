# label: skips repeated values with `continue` before advancing (loops forever on [1, 1, 1, 2])
# kind: hang
def two_sum(nums, target):
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    seen = {}
    i = 0
    while i < len(nums):
        x = nums[i]
        if target - x in seen:
            return [seen[target - x], i]
        if x in seen:
            continue  # keep the first index of a repeated value
        seen[x] = i
        i += 1
    return None
