# label: converts input with int(): ValueError on a string, accepts floats
# kind: crash
def two_sum(nums, target):
    nums = [int(x) for x in nums]
    target = int(target)
    seen = {}
    for j, x in enumerate(nums):
        if target - x in seen:
            return [seen[target - x], j]
        if x not in seen:
            seen[x] = j
    return None
