# label: correct, O(n log n), prints each merge decision
# kind: noisy
def merge_intervals(intervals):
    if not isinstance(intervals, list):
        raise TypeError("intervals must be a list")
    for iv in intervals:
        if not isinstance(iv, list):
            raise TypeError("each interval must be a list")
        if len(iv) != 2:
            raise ValueError("each interval needs exactly two bounds")
        if not all(isinstance(b, int) for b in iv):
            raise TypeError("bounds must be ints")
        if iv[0] > iv[1]:
            raise ValueError("start must not exceed end")
    ivs = sorted(intervals)
    print(f"sorted {len(ivs)} intervals")
    merged = []
    for start, end in ivs:
        if merged and start <= merged[-1][1]:
            print(f"  merge [{start}, {end}] into {merged[-1]}")
            merged[-1][1] = max(merged[-1][1], end)
        else:
            print(f"  new interval [{start}, {end}]")
            merged.append([start, end])
    print(f"result: {len(merged)} intervals")
    return merged
