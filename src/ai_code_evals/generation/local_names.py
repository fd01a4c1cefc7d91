"""Local variables renamed to canonical names, in programs that cannot see their own local names.

``total = 0; for x in xs: total += x`` and ``s = 0; for x in xs: s += x`` behave the same under
any test: a function's local names are invisible to its callers. Among real model samples
(CodeGen-16B, HumanEval) 7% of versions differ from an earlier one only there. Renaming them
before the duplicate fingerprint lets such versions share one run.

A program *can* see its local names through frames, code objects and the exception being
handled, by reading its own source, or by evaluating a string. So the renaming happens only
when the program has none of the ways there (``observes_locals``), which is decided by what it
may use, not by what it may not: it imports only names ``PLAIN_NAMES`` lists (``List`` from
typing, ``sqrt`` from math, ``Counter`` from collections...) and uses a plain module only as
``module.listed_name``; it uses only built-ins that compute on data (``PLAIN_BUILTINS``: no
``getattr``, ``vars``, ``open``, ``type``...); and it touches no dunder outside
``PLAIN_DUNDERS``, no private attribute and no frame, code, generator or traceback attribute
(``gi_frame``, ``co_varnames``...), not even through a class pattern's keywords (``case
object(gi_frame=...)``), binds no handled exception (``except ... as e``), has no string
annotation, and formats only literal strings without attribute or index fields
(``"{0.gi_frame}".format(g)`` reads one).

What is renamed, and why each rule keeps the meaning:

- a function's renaming covers the names its own scope binds (``x = ...``, ``for x``,
  ``with ... as x``, ``x: int``, but not ``(x): int``, which binds nothing), throughout its
  body, nested scopes included: an inner binding of the same name is renamed the same way, so
  shadowing is unchanged;
- a comprehension's covers its loop variables, everywhere but its first iterable (which Python
  evaluates outside it), and only those whose name appears nowhere outside it: from Python 3.12
  a comprehension is compiled into its function (PEP 709), and CPython then behaves differently
  when its loop variable shares a name with a global, a built-in or an enclosing function's
  variable (``[total for total in xs]; [total for v in xs]`` raises UnboundLocalError, CPython
  issues #118513 and #156664); an outer scope is renamed before the ones inside it;
- never a name that also appears as a parameter, a function or class name, an import, an
  ``except`` name, a ``global``/``nonlocal`` declaration, a keyword or a pattern capture anywhere in
  the program: those are seen from outside, or bind in ways the rule above does not follow;
- never in a function that contains a class (class scopes resolve names differently);
- never a local a read may find unbound (``unbound_reads.py``): the error names it;
- never ``super``: ``super()`` without arguments works only where the name itself appears;
- the new names contain a NUL, which no source can: they can collide with nothing;
- and a net under these rules: the program is compiled before and after, and the renaming is
  undone when a code object's operations, its global names or its numbers of locals, cells and
  free variables differ (a global taken for a local, or the reverse, changes one of them).

The renamed tree is only hashed, never run.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import re
import types
from collections import defaultdict

from ai_code_evals.generation.unbound_reads import comprehension_unbound_reads, unbound_reads


def _public(module: str) -> frozenset[str]:
    mod = importlib.import_module(module)
    return frozenset(n for n in dir(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), types.ModuleType))


# What a program may import and still have its local names renamed: per module, the names it may
# use. An allow-list, not a deny-list: a red team found five ways past a deny-list (a renamed
# import of get_type_hints, an imported ``_eval_type``, functools.singledispatch evaluating an
# annotation, string.Formatter.get_field, a class with ``__exit__`` built by ``type()``).
PLAIN_NAMES: dict[str, frozenset[str]] = {
    "typing": frozenset({"List", "Dict", "Tuple", "Set", "FrozenSet", "Optional", "Union", "Any", "Callable",
                         "Iterable", "Iterator", "Sequence", "Mapping", "Generator", "Deque", "DefaultDict"}),
    "math": _public("math"), "cmath": _public("cmath"), "itertools": _public("itertools"),
    "heapq": _public("heapq"), "bisect": _public("bisect"),
    "collections": frozenset({"Counter", "defaultdict", "deque", "OrderedDict"}),
    "functools": frozenset({"reduce", "lru_cache", "cache", "cmp_to_key"}),
    "string": frozenset({"ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits", "hexdigits", "octdigits",
                         "punctuation", "printable", "whitespace"}),
    "re": frozenset({"compile", "match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split",
                     "escape", "IGNORECASE", "I", "MULTILINE", "M", "DOTALL", "S", "VERBOSE", "X", "ASCII", "A"}),
    "random": frozenset({"random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "seed",
                         "uniform"}),
    "statistics": frozenset({"mean", "fmean", "median", "median_low", "median_high", "mode", "multimode", "stdev",
                             "pstdev", "variance", "pvariance"}),
    "fractions": frozenset({"Fraction"}), "decimal": frozenset({"Decimal"}),
    "hashlib": frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}),
    "datetime": frozenset({"date", "datetime", "timedelta"}), "copy": frozenset({"copy", "deepcopy"}),
    "__future__": frozenset({"annotations", "division", "print_function", "absolute_import"}),
}
# Built-ins that only compute on data. Not ``type``, even as ``type(x)``: ``type(object)`` is
# ``type`` itself, which with three arguments builds a class whose dunders come from strings. Nor
# ``id`` and ``hash``: addresses depend on what loading the text allocated, so twins a comment
# apart placed new objects in another order (an eighth red team).
PLAIN_BUILTINS = frozenset({
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "classmethod", "complex",
    "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hex", "input", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object", "oct", "ord", "pow",
    "print", "property", "range", "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str",
    "sum", "super", "tuple", "zip", "NotImplemented", "Ellipsis", "__name__",
}) | frozenset(n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException))
NOT_PLAIN_BUILTINS = frozenset(dir(builtins)) - PLAIN_BUILTINS
PLAIN_DUNDERS = frozenset({
    "__name__", "__main__", "__future__", "__all__", "__init__", "__repr__", "__str__", "__eq__", "__ne__",
    "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__len__", "__iter__", "__next__", "__contains__",
    "__getitem__", "__setitem__", "__bool__", "__add__", "__sub__", "__mul__", "__call__",
})
FRAME_ATTRIBUTE = re.compile(r"(?:^|\W)(?:f|co|gi|cr|ag|tb)_[a-z]")
# a field with a dot or a bracket, also one nested in another's format spec ("{0:{1.x}}" and
# "{0.real:{1}}" both read attributes); a dot only in a spec ("{:.2f}") counts too, to be safe
FORMAT_FIELD_ACCESS = re.compile(r"\{[^{}]*[.\[][^{}]*\}|\{[^{}:!]*[.\[]")
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
SCOPES = FUNCTIONS + COMPREHENSIONS + (ast.Lambda, ast.ClassDef)


class _Nodes:
    """One traversal of a tree: its nodes breadth first (outer scopes before inner ones), by
    kind, each node's children, and the identifiers nodes hold as plain strings."""

    def __init__(self, tree: ast.AST) -> None:
        self.order = [tree]
        self.kids: dict[int, list[ast.AST]] = {}
        self.strings: list[str] = []
        self.of_kind: dict[type, list[ast.AST]] = defaultdict(list)
        for node in self.order:  # grows as it goes
            kind = type(node)
            self.of_kind[kind].append(node)
            kids = self.kids[id(node)] = []
            for field in node._fields:
                value = getattr(node, field, None)
                for item in value if isinstance(value, list) else (value,):
                    if isinstance(item, ast.AST):
                        kids.append(item)
                    elif isinstance(item, str) and kind not in (ast.Name, ast.Attribute, ast.Constant):
                        self.strings.append(item)
            self.order.extend(kids)

    def under(self, roots: list[ast.AST], stop: tuple = ()):
        """Every node under ``roots`` (roots included), not descending below a ``stop`` node."""
        stack = list(reversed(roots))
        while stack:
            node = stack.pop()
            yield node
            if not isinstance(node, stop):
                stack.extend(reversed(self.kids[id(node)]))


def observes_locals(tree: ast.AST) -> bool:
    """Could this program read its own local variables' names (see the module's docstring)?"""
    return _observes(_Nodes(tree))


def _observes(nodes: _Nodes) -> bool:
    modules = _plain_imports(nodes)
    if modules is None:
        return True
    attributes, names = nodes.of_kind[ast.Attribute], nodes.of_kind[ast.Name]
    attrs = {node.attr for node in attributes}
    if _frame_or_private(attrs) or "format_map" in attrs or "vformat" in attrs:
        return True
    if "format" in attrs and not all(_plain_literal(n.value) for n in attributes if n.attr == "format"):
        return True  # "{0.gi_frame}".format(g) reads one
    ids = {node.id for node in names}
    if ids & NOT_PLAIN_BUILTINS or any(_private_dunder(name) for name in ids):
        return True  # getattr, vars, type (even if rebound); __builtins__, __exit__ = ... in a class body
    if ids & modules.keys():
        bases = {id(n.value) for n in attributes if isinstance(n.value, ast.Name) and n.value.id in modules}
        if any(n.id in modules and id(n) not in bases for n in names):
            return True  # a plain module handed around as a value
        if any(n.attr not in PLAIN_NAMES[modules[n.value.id]] for n in attributes if id(n.value) in bases):
            return True
    if any(handler.name for handler in nodes.of_kind[ast.ExceptHandler]):
        return True
    if any(pattern.kwd_attrs for pattern in nodes.of_kind[ast.MatchClass]):
        return True  # ``case object(gi_frame=...)`` reads attributes named in the pattern
    if _frame_or_private({c.value for c in nodes.of_kind[ast.Constant] if isinstance(c.value, str)}, "__"):
        return True
    if any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in nodes.under(_annotations(nodes))):
        return True  # code in a string, for whatever evaluates annotations
    return any(_private_dunder(name) for name in nodes.strings)


def _frame_or_private(texts: set[str], private: str = "_") -> bool:
    """Does any of these name a frame attribute (``gi_frame``...), or hold ``private`` (at the start
    for ``_``) outside a plain dunder?"""
    joined = "\0" + "\0".join(texts)
    if FRAME_ATTRIBUTE.search(joined):
        return True
    if private == "_":
        return "\0_" in joined and any(t.startswith("_") and t not in PLAIN_DUNDERS for t in texts)
    return private in joined


def _plain_imports(nodes: _Nodes) -> dict[str, str] | None:
    """The names the program binds to plain modules (name -> module), or None when it imports
    anything ``PLAIN_NAMES`` does not list (another module, a submodule, ``*``, a relative import)."""
    modules: dict[str, str] = {}
    for node in nodes.of_kind[ast.Import]:
        for alias in node.names:
            if alias.name not in PLAIN_NAMES:
                return None
            modules[alias.asname or alias.name] = alias.name
    for node in nodes.of_kind[ast.ImportFrom]:
        allowed = PLAIN_NAMES.get(node.module or "") if not node.level else None
        if allowed is None or any(a.name not in allowed for a in node.names):
            return None
    return modules


def _annotations(nodes: _Nodes) -> list[ast.AST]:
    kinds = {ast.arg: "annotation", ast.AnnAssign: "annotation", ast.FunctionDef: "returns",
             ast.AsyncFunctionDef: "returns"}
    return [a for kind, field in kinds.items() for n in nodes.of_kind[kind] if (a := getattr(n, field)) is not None]


def _private_dunder(name: str) -> bool:
    return name.startswith("__") and name not in PLAIN_DUNDERS


def _plain_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and not FORMAT_FIELD_ACCESS.search(node.value)


def _regions(nodes: _Nodes) -> tuple[dict[int, tuple[ast.AST, ...]], dict[int, int]]:
    """Per node, the functions and comprehensions whose region (where their bindings are seen)
    holds it, and how many functions and comprehensions it is nested in. A function's region is
    its body; a comprehension's is all of it but its first iterable, evaluated outside it."""
    regions: dict[int, tuple[ast.AST, ...]] = {id(nodes.order[0]): ()}
    depth = {id(nodes.order[0]): 0}
    outside: dict[int, tuple[ast.AST, ...]] = {}
    for node in nodes.order:  # parents before their children
        outer, kids = regions[id(node)], nodes.kids[id(node)]
        is_scope = isinstance(node, FUNCTIONS + COMPREHENSIONS)
        inner = (*outer, node) if is_scope else outer
        if isinstance(node, COMPREHENSIONS):
            outside[id(node.generators[0].iter)] = outer
        body = {id(statement) for statement in node.body} if isinstance(node, FUNCTIONS) else None
        for kid in kids:
            depth[id(kid)] = depth[id(node)] + is_scope
            if body is not None:
                regions[id(kid)] = inner if id(kid) in body else outer
            else:
                regions[id(kid)] = outside.get(id(kid), inner)
    return regions, depth


def canonical_locals(tree: ast.AST) -> ast.AST | None:
    """The tree with the locals of functions and comprehensions renamed canonically (unchanged
    when the renaming would change what the compiled program does, ``_compiled_shape``), or None
    when the program could observe itself: its local names, and its layout too (the same ways
    read line numbers and source). Changes ``tree`` in place."""
    nodes = _Nodes(tree)
    if _observes(nodes):
        return None
    before = _compiled_shape(tree)
    if before is None:
        return tree  # Python's compiler refuses it: it fails to load whatever its names
    renamed = _rename(nodes)
    if renamed and _compiled_shape(tree) != before:
        for name, old in reversed(renamed):
            name.id = old
    return tree


def _compiled_shape(tree: ast.AST) -> list[tuple] | None:
    """What renaming locals leaves unchanged in the compiled program, a net under the rules
    above: each code object's operations (not their arguments: CPython numbers local slots in
    name order), the global and attribute names it reads, and how many locals, cells and free
    variables it has. A name taken for a local that is really a global (or the reverse) changes
    an operation or a global name; None when it does not compile."""
    try:
        code = compile(tree, "<version>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    shape, stack = [], [code]
    while stack:
        code = stack.pop()
        shape.append((code.co_code[::2], code.co_names, len(code.co_varnames), len(code.co_cellvars),
                      len(code.co_freevars)))
        stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return shape


def _unsafe_names(nodes: _Nodes) -> set[str]:
    """Names some scope binds that a read may find unbound: the error names them, so they keep
    their names everywhere (an outer function's renaming covers its nested scopes too). Found
    before any renaming; every walrus target counts, unchecked (a tenth red team's find: a walrus in
    a comprehension inside a nested function made the name that function's own)."""
    risky: set[str] = set()
    for scope in (*nodes.of_kind[ast.FunctionDef], *nodes.of_kind[ast.AsyncFunctionDef]):
        own = {n.id for n in nodes.under(scope.body, stop=SCOPES)
               if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
        risky |= unbound_reads(scope.body, own)
    for kind in COMPREHENSIONS:
        for comprehension in nodes.of_kind[kind]:
            risky |= comprehension_unbound_reads(comprehension)
    # a walrus binds in the function around its comprehension, lambda or default: unchecked
    return risky | {n.target.id for n in nodes.of_kind[ast.NamedExpr]}


def _rename(nodes: _Nodes) -> list[tuple[ast.Name, str]]:
    """Rename the locals (see the module's docstring); each renamed node with its old name."""
    # ``super`` too: zero-argument super() needs the name itself in the method (its __class__ cell)
    fixed = {"super", "__class__", *nodes.strings}
    regions, depth = _regions(nodes)
    # class bodies resolve names their own way: a function holding a class keeps its names
    with_class = {id(f) for c in nodes.of_kind[ast.ClassDef] for f in regions[id(c)] if isinstance(f, FUNCTIONS)}
    # ``(x): int`` binds nothing (only ``x: int`` makes ``x`` local): ``x`` stays the outer one
    not_binding = {id(a.target) for a in nodes.of_kind[ast.AnnAssign] if not a.simple and a.value is None}
    risky = _unsafe_names(nodes)
    by_name: dict[str, list[ast.Name]] = defaultdict(list)
    for name in nodes.of_kind[ast.Name]:
        by_name[name.id].append(name)
    renamed = []
    for scope in nodes.order:  # an outer scope is renamed before the ones inside it
        if isinstance(scope, FUNCTIONS) and id(scope) not in with_class:
            binding_roots, private = scope.body, None
        elif isinstance(scope, COMPREHENSIONS):
            binding_roots, private = [gen.target for gen in scope.generators], scope
        else:
            continue
        bound = dict.fromkeys(n.id for n in nodes.under(binding_roots, stop=SCOPES)  # in order of appearance
                              if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))
                              and n.id not in fixed and id(n) not in not_binding)
        for i, old in enumerate(bound):
            if old in risky:
                continue  # a read may find it unbound: the error's message names it
            if private is not None and not all(scope in regions[id(n)] for n in by_name[old]):
                continue  # the loop variable shares its name with something outside the comprehension
            new, kept = f"\0{depth[id(scope)]}.{i}", []
            for name in by_name.pop(old):
                if scope in regions[id(name)]:
                    renamed.append((name, old))
                    name.id = new
                    by_name[new].append(name)
                else:
                    kept.append(name)
            if kept:
                by_name[old] = kept
    return renamed
