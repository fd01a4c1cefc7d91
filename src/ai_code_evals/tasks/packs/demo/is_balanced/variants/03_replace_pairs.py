# label: correct, deletes "()", "[]" and "{}" until none is left (O(n^2))
# kind: slow
def is_balanced(s):
    if not isinstance(s, str):
        raise TypeError("s must be a str")
    s = "".join(ch for ch in s if ch in "()[]{}")
    while "()" in s or "[]" in s or "{}" in s:
        s = s.replace("()", "").replace("[]", "").replace("{}", "")
    return s == ""
