# label: correct sieve, prints progress every ten primes
# kind: noisy
def primes_up_to(n):
    if not isinstance(n, int):
        raise TypeError("n must be an int")
    if n < 0:
        raise ValueError("n must not be negative")
    if n < 2:
        print("nothing below 2")
        return []
    flags = bytearray([1]) * (n + 1)
    flags[0] = flags[1] = 0
    primes = []
    for p in range(2, n + 1):
        if flags[p]:
            primes.append(p)
            if len(primes) % 10 == 1:
                print(f"prime #{len(primes)}: {p}")
            if p * p <= n:
                flags[p * p :: p] = bytes(len(range(p * p, n + 1, p)))
    print(f"found {len(primes)} primes up to {n}")
    return primes
