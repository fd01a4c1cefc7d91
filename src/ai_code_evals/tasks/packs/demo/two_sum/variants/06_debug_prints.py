# label: correct, O(n) hash map, prints a line per element
# kind: noisy
def two_sum(nums, target):
    print(f"two_sum called with {len(nums) if isinstance(nums, list) else nums!r} numbers, target={target!r}")
    if not isinstance(nums, list):
        raise TypeError("nums must be a list")
    if not isinstance(target, int) or not all(isinstance(x, int) for x in nums):
        raise TypeError("target and the elements of nums must be ints")
    seen = {}
    for j, x in enumerate(nums):
        need = target - x
        print(f"  j={j} x={x} need={need} seen={len(seen)}")
        if need in seen:
            print(f"  found pair {seen[need]}, {j}")
            return [seen[need], j]
        seen.setdefault(x, j)
    print("  no pair")
    return None
