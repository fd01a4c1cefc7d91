# label: counts down from n with `while i != 1` (never stops for n = 0)
# kind: hang
def primes_up_to(n):
    if not isinstance(n, int):
        raise TypeError("n must be an int")
    if n < 0:
        raise ValueError("n must not be negative")
    primes = []
    i = n
    while i != 1:
        if i > 1 and all(i % d for d in range(2, int(i**0.5) + 1)):
            primes.append(i)
        i -= 1
    return primes[::-1]
