# label: correct, keeps a copy of the open brackets at every position (O(n^2) memory)
# kind: memory
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = ""
    history = []  # for error messages: what was open at each position
    for ch in s:
        if ch in "([{":
            stack += ch
        elif ch in closers:
            if not stack or stack[-1] != closers[ch]:
                return False
            stack = stack[:-1]
        history.append(stack)
    return stack == ""
