# label: correct, rewrites subtractive pairs (IV -> IIII) and then adds
# kind: correct
def roman_to_int(s):
    for pair, expanded in (("CM", "DCCCC"), ("CD", "CCCC"), ("XC", "LXXXX"), ("XL", "XXXX"),
                           ("IX", "VIIII"), ("IV", "IIII")):
        s = s.replace(pair, expanded)
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[ch] for ch in s)
