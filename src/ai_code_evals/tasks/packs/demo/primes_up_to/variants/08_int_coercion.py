# label: correct sieve, converts n with int() (accepts 10.5 and "10")
# kind: fragile
def primes_up_to(n):
    n = int(n)
    if n < 0:
        raise ValueError("n must not be negative")
    if n < 2:
        return []
    flags = bytearray([1]) * (n + 1)
    flags[0] = flags[1] = 0
    for p in range(2, int(n**0.5) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(range(p * p, n + 1, p)))
    return [i for i in range(n + 1) if flags[i]]
