# label: off by one: checks range(2, n) and misses n itself
# kind: wrong
def primes_up_to(n):
    if not isinstance(n, int):
        raise TypeError("n must be an int")
    if n < 0:
        raise ValueError("n must not be negative")
    if n < 2:
        return []
    flags = [True] * n
    primes = []
    for i in range(2, n):
        if flags[i]:
            primes.append(i)
            for m in range(i * i, n, i):
                flags[m] = False
    return primes
