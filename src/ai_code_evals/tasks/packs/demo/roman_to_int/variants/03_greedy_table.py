# label: greedy parse over a symbol table that lacks "L" (loops forever on LVIII)
# kind: hang
TABLE = [("M", 1000), ("CM", 900), ("D", 500), ("CD", 400), ("C", 100), ("XC", 90),
         ("XL", 40), ("X", 10), ("IX", 9), ("V", 5), ("IV", 4), ("I", 1)]


def roman_to_int(s):
    total = 0
    while s:
        for symbol, value in TABLE:
            if s.startswith(symbol):
                total += value
                s = s[len(symbol):]
                break
    return total
