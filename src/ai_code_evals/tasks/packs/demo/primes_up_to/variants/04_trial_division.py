# label: correct, trial division of every number up to its square root (O(n sqrt n))
# kind: slow
def is_prime(k):
    if k < 2:
        return False
    d = 2
    while d * d <= k:
        if k % d == 0:
            return False
        d += 1
    return True


def primes_up_to(n):
    if not isinstance(n, int):
        raise TypeError("n must be an int")
    if n < 0:
        raise ValueError("n must not be negative")
    return [k for k in range(2, n + 1) if is_prime(k)]
