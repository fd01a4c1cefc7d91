# label: correct, O(n log n) sort and sweep, validates input
# kind: fast
def merge_intervals(intervals):
    if not isinstance(intervals, list):
        raise TypeError("intervals must be a list")
    for iv in intervals:
        if not isinstance(iv, list):
            raise TypeError("each interval must be a list")
        if len(iv) != 2:
            raise ValueError("each interval needs exactly two bounds")
        start, end = iv
        if not isinstance(start, int) or not isinstance(end, int):
            raise TypeError("bounds must be ints")
        if start > end:
            raise ValueError("start must not exceed end")
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged
