# label: starts from the last symbol with s[-1] (IndexError on the empty string)
# kind: crash
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = values[s[-1]]
    for i in range(len(s) - 2, -1, -1):
        if values[s[i]] < values[s[i + 1]]:
            total -= values[s[i]]
        else:
            total += values[s[i]]
    return total
