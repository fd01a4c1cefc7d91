# label: correct, O(n) stack, validates input
# kind: fast
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if not stack or stack.pop() != closers[ch]:
                return False
    return not stack
