# label: correct, looks the numeral up in a table of all 3999 numerals built at import
# kind: correct
def _to_roman(n):
    out = []
    for value, symbol in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


LOOKUP = {_to_roman(n): n for n in range(1, 4000)}
LOOKUP[""] = 0


def roman_to_int(s):
    return LOOKUP[s]
