# label: correct, prints a trace line for every symbol
# kind: noisy
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        nxt = values[s[i + 1]] if i + 1 < len(s) else 0
        total += -v if v < nxt else v
        print(f"  {s!r}[{i}] = {ch} ({v}), next {nxt}, total so far {total}")
    print(f"{s!r} -> {total}")
    return total
