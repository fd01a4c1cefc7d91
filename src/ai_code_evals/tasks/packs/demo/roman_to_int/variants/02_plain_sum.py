# label: adds every symbol, ignores subtractive pairs (IV gives 6)
# kind: wrong
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[ch] for ch in s)
