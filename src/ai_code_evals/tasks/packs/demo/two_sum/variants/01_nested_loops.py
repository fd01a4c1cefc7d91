# label: correct, O(n^2) nested loops
# kind: slow
def two_sum(nums, target):
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    for j in range(len(nums)):
        for i in range(j):
            if nums[i] + nums[j] == target:
                return [i, j]
    return None
