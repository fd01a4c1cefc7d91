# label: correct, direct-address table sized by the value range (lots of memory)
# kind: memory
def two_sum(nums, target):
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    if not nums:
        return None
    lo, hi = min(nums), max(nums)
    # one slot per possible value: O(1) lookups without hashing
    table = [None] * (hi - lo + 1)
    for j, x in enumerate(nums):
        need = target - x
        if lo <= need <= hi and table[need - lo] is not None:
            return [table[need - lo], j]
        if table[x - lo] is None:
            table[x - lo] = j
    return None
