# label: correct, O(n) stack, prints each bracket it closes
# kind: noisy
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    for i, ch in enumerate(s):
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if not stack or stack[-1] != closers[ch]:
                print(f"mismatch at {i}: {ch!r}")
                return False
            stack.pop()
            if i % 2 == 0:
                print(f"closed {ch!r} at {i}, depth {len(stack)}")
    print(f"done, {len(stack)} left open")
    return not stack
