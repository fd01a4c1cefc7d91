# label: takes the later interval's end instead of the max (breaks on contained intervals)
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
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged
