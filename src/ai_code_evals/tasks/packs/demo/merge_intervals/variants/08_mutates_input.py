# label: correct result, but sorts the caller's list in place and edits its intervals
# kind: wrong
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
    intervals.sort()
    merged = []
    for iv in intervals:
        if merged and iv[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], iv[1])
        else:
            merged.append(iv)
    return merged
