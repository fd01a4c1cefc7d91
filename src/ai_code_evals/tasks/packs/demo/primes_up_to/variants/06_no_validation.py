# label: sieve without input checks: IndexError for n = 0 and for a negative n
# kind: crash
def primes_up_to(n):
    flags = [True] * (n + 1)
    flags[0] = flags[1] = False
    for p in range(2, int(n**0.5) + 1):
        if flags[p]:
            for m in range(p * p, n + 1, p):
                flags[m] = False
    return [i for i in range(n + 1) if flags[i]]
