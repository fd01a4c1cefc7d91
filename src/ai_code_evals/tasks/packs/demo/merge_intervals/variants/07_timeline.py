# label: correct, paints covered points on a timeline as long as the value range (lots of memory)
# kind: memory
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
    if not intervals:
        return []
    lo = min(iv[0] for iv in intervals)
    hi = max(iv[1] for iv in intervals)
    # two cells per point so that [1, 2] and [3, 4] stay apart while [1, 3] and [3, 5] join
    line = bytearray(2 * (hi - lo) + 1)
    for start, end in intervals:
        a, b = 2 * (start - lo), 2 * (end - lo) + 1
        line[a:b] = b"\x01" * (b - a)
    merged = []
    pos = line.find(1)
    while pos != -1:
        stop = line.find(0, pos)
        if stop == -1:
            stop = len(line)
        merged.append([pos // 2 + lo, (stop - 1) // 2 + lo])
        pos = line.find(1, stop)
    return merged
