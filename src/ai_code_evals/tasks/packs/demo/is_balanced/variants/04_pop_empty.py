# label: pops without checking for an empty stack (IndexError on a stray closing bracket)
# kind: crash
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if stack.pop() != closers[ch]:
                return False
    return not stack
