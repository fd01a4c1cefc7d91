# label: correct, precomputes a sieve up to five million on the first call (lots of memory)
# kind: memory
LIMIT = 5_000_000
_sieve = None


def _build():
    flags = [True] * (LIMIT + 1)
    flags[0] = flags[1] = False
    for p in range(2, int(LIMIT**0.5) + 1):
        if flags[p]:
            flags[p * p :: p] = [False] * len(range(p * p, LIMIT + 1, p))
    return flags


def primes_up_to(n):
    if not isinstance(n, int):
        raise TypeError("n must be an int")
    if n < 0:
        raise ValueError("n must not be negative")
    global _sieve
    if n > LIMIT:
        raise ValueError("n too large")
    if _sieve is None:
        _sieve = _build()
    return [i for i in range(n + 1) if _sieve[i]]
