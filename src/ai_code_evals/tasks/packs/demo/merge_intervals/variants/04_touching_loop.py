# label: handles touching intervals in a second loop that never advances (hangs on [[1, 4], [4, 5]])
# kind: hang
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
    merged = []
    i = 0
    while i < len(ivs):
        start, end = ivs[i]
        i += 1
        while i < len(ivs) and ivs[i][0] < end:  # overlapping
            end = max(end, ivs[i][1])
            i += 1
        while i < len(ivs) and ivs[i][0] <= end:  # touching
            end = max(end, ivs[i][1])
        merged.append([start, end])
    return merged
