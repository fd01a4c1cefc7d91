# label: correct, merges pairs until nothing changes (O(n^2) per pass)
# kind: slow
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
    result = [list(iv) for iv in intervals]
    changed = True
    while changed:
        changed = False
        for i in range(len(result)):
            a = result[i]
            for j in range(i + 1, len(result)):
                b = result[j]
                if a[0] <= b[1] and b[0] <= a[1]:
                    a[0], a[1] = min(a[0], b[0]), max(a[1], b[1])
                    del result[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(result)
