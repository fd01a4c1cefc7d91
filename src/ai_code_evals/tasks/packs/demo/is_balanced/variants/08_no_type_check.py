# label: correct, O(n) stack, but no type check (a list of characters is accepted)
# kind: fragile
def is_balanced(s):
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if not stack or stack.pop() != closers[ch]:
                return False
    return not stack
