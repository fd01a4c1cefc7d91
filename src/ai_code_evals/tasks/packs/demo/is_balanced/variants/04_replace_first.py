# label: correct on strings, but calls s.replace first (AttributeError instead of TypeError on bad input)
# kind: crash
def is_balanced(s):
    s = s.replace(" ", "")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if not stack or stack.pop() != closers[ch]:
                return False
    return not stack
