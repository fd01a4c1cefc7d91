# label: index loop that skips spaces without advancing (hangs on "f(a[1]) {ok}")
# kind: hang
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    closers = {")": "(", "]": "[", "}": "{"}
    stack = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == " ":
            continue  # skip spaces quickly
        if ch in "([{":
            stack.append(ch)
        elif ch in closers:
            if not stack or stack.pop() != closers[ch]:
                return False
        i += 1
    return not stack
