# label: keeps its parsing rules in a set: right or wrong depending on the hash seed (try --env hash-seed)
# kind: hash-order
VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
RULES = list({"subtract", "add"})  # a set: which rule is tried first depends on PYTHONHASHSEED


def roman_to_int(s):
    total = 0
    for i, ch in enumerate(s):
        value = VALUES[ch]
        following = VALUES[s[i + 1]] if i + 1 < len(s) else 0
        if RULES[0] == "subtract" and value < following:
            total -= value
        else:
            total += value
    return total
