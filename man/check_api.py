#!/usr/bin/env python3
"""ctest man.api: corolink.3 documents exactly the API that the headers
declare.

From include/corolink.h and the per-target headers it includes, only the
user-facing names (never the corolink__* / COROLINK__* internals):
  - functions: declared with COROLINK_API (or defined inline by a
    per-target header): each needs a prototype in SYNOPSIS, the same
    return and parameter types and names as in corolink.h, and an
    `.It Fn name` entry that describes it;
  - types (typedefs and structs): each named in SYNOPSIS;
  - macros (#define COROLINK_..., the header guards and COROLINK_API left
    out) and the macros a program may define before including the header
    (COROLINK_NO_INLINE, ...): each as `.Dv NAME`; the error codes
    COROLINK_E* each as an `.It Dv` entry of RETURN VALUES that starts with
    the code's value.
The other way round, every corolink_* or COROLINK_* name in the page must
be one of those, a build option of CMakeLists.txt (COROLINK_UNWIND=OFF,
...), or an environment variable (`.Ev`) that the header or README.md
names. Prints what is missing or extra and exits 1 if anything is.

usage: check_api.py --header include/corolink.h --page man/corolink.3
                    --readme README.md --cmake CMakeLists.txt
"""
import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roff  # noqa: E402

FUNC_NAME = r"corolink_[a-z0-9]\w*"      # user-facing: not corolink__*
MACRO_NAME = r"COROLINK_[A-Z0-9][A-Z0-9_]*"  # not COROLINK__*


def strip_comments(src):
    """(code, comment text) of a C source."""
    code, comments = [], []
    pos = 0
    for m in re.finditer(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"", src,
                         re.S):
        code.append(src[pos:m.start()])
        if m.group(0).startswith("/"):
            comments.append(m.group(0))
            code.append(" ")
        else:
            code.append(m.group(0))
        pos = m.end()
    code.append(src[pos:])
    return "".join(code), "\n".join(comments)


def matching_paren(s, i):
    """Index of the `)` closing the `(` at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced parentheses")


def norm_type(s):
    """A C type (or parameter) in one spelling: `void *(*fn)(void *)`,
    `corolink **out`."""
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"\s*(\*+)\s*", r" \1", s)
    s = re.sub(r"\(\s+", "(", s)
    s = re.sub(r"\s+\)", ")", s)
    return s.strip()


def split_params(s):
    """Top-level comma-separated parameters, normalised."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur.append(ch)
    out.append("".join(cur))
    params = [norm_type(p) for p in out if p.strip()]
    return [] if params == ["void"] else params


class Header(object):
    def __init__(self, path):
        self.functions = {}   # name -> (return type, [params]) or None
        self.types = set()
        self.macros = {}      # name -> value text
        self.config = set()   # tested, never defined (COROLINK_NO_INLINE)
        self.comment_text = ""
        guards = set()
        tested = set()
        paths = [path]
        src = open(path, encoding="utf-8").read()
        for inc in re.findall(r'#\s*include\s+"(corolink/[^"]+)"', src):
            paths.append(os.path.join(os.path.dirname(path), inc))
        for p in paths:
            text = open(p, encoding="utf-8").read()
            code, comments = strip_comments(text)
            self.comment_text += comments + "\n"
            guards.update(re.findall(r"#\s*ifndef\s+(\w+_H)\b", code))
            signatures = p == path  # per-target headers: names only
            for m in re.finditer(
                    r"\b(?:COROLINK_API|COROLINK__INLINE_DEF)\b([^;{}()]*?)\b("
                    + FUNC_NAME + r")\s*\(", code):
                name = m.group(2)
                ret = re.sub(r"\bCOROLINK_\w+\b", "", m.group(1))
                open_at = m.end() - 1
                params = code[open_at + 1:matching_paren(code, open_at)]
                if signatures or name not in self.functions:
                    self.functions[name] = (norm_type(ret),
                                            split_params(params))
            for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{.*?\}\s*(\w+)\s*;",
                                 code, re.S):
                self.types.update(m.groups())
            for m in re.finditer(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", code):
                self.types.update(m.groups())
            for m in re.finditer(r"typedef[^;]*?\(\s*\*\s*(\w+)\s*\)", code):
                self.types.add(m.group(1))
            for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(" + MACRO_NAME +
                                 r")\b(?!\()[ \t]*(.*)$", code, re.M):
                self.macros[m.group(1)] = m.group(2).strip()
            tested.update(re.findall(r"\bdefined\s*\(?\s*(" + MACRO_NAME + ")",
                                     code))
            tested.update(re.findall(r"#\s*ifn?def\s+(" + MACRO_NAME + ")",
                                     code))
        self.types = {t for t in self.types
                      if re.match(r"^corolink(_[a-z0-9]\w*)?$", t)}
        for g in guards:
            self.macros.pop(g, None)
        self.macros.pop("COROLINK_API", None)
        self.config = tested - set(self.macros) - guards - {"COROLINK_API"}


def error_value(text):
    """-1 for "(-1)"."""
    m = re.match(r"^\(?\s*(-?\d+)\s*\)?", text)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--page", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--cmake", required=True)
    a = ap.parse_args()

    h = Header(a.header)
    readme = open(a.readme, encoding="utf-8").read()
    cmake = open(a.cmake, encoding="utf-8").read()
    build_options = set(re.findall(r"\boption\(\s*(" + MACRO_NAME + ")", cmake))
    page = roff.read(a.page)
    pname = os.path.basename(a.page)

    missing, extra, differ = [], [], []

    # -- what the page declares and describes ---------------------------
    protos = {}      # name -> (return type, [params]) from SYNOPSIS
    described = set()
    dv, ev = set(), set()
    it_dv = {}       # error code -> text of its RETURN VALUES entry
    synopsis_text = []
    ft = None
    fo = None        # (name, [params]) while inside .Fo ... .Fc
    for i, ln in enumerate(page):
        if ln.sh == "SYNOPSIS":
            synopsis_text.append(" ".join(ln.args) if ln.macro else ln.text)
            if ln.macro == "Ft":
                ft = " ".join(ln.args)
            elif ln.macro == "Fn" and ln.args:
                protos[ln.args[0]] = (norm_type(ft or ""),
                                      split_params(",".join(ln.args[1:])))
                ft = None
            elif ln.macro == "Fo" and ln.args:
                fo = (ln.args[0], [])
            elif ln.macro == "Fa" and fo is not None:
                fo[1].extend(ln.args)
            elif ln.macro == "Fc" and fo is not None:
                protos[fo[0]] = (norm_type(ft or ""),
                                 split_params(",".join(fo[1])))
                fo, ft = None, None
        if ln.macro == "It":
            described.update(ln.names_after("Fn"))
            if ln.sh == "RETURN VALUES":
                nxt = page[i + 1].text if i + 1 < len(page) else ""
                for name in ln.tokens_after("Dv"):
                    it_dv[name] = nxt
        dv.update(ln.tokens_after("Dv"))
        ev.update(ln.tokens_after("Ev"))
    synopsis = " ".join(synopsis_text)

    # -- declared -> documented -----------------------------------------
    for name in sorted(h.functions):
        if name not in protos:
            missing.append("function %s(): no prototype in SYNOPSIS" % name)
        if name not in described:
            missing.append("function %s(): no `.It Fn %s` entry describing it"
                           % (name, name))
        decl = h.functions[name]
        if name in protos and decl is not None and protos[name] != decl:
            differ.append("%s(): header: %s %s(%s)\n      %s: %s %s(%s)" % (
                name, decl[0], name, ", ".join(decl[1]) or "void", pname,
                protos[name][0], name, ", ".join(protos[name][1]) or "void"))
    for name in sorted(h.types):
        if not re.search(r"\b%s\b" % re.escape(name), synopsis):
            missing.append("type %s: not named in SYNOPSIS" % name)
    for name in sorted(set(h.macros) | h.config):
        if name not in dv:
            missing.append("macro %s: no `.Dv %s`" % (name, name))
    for name in sorted(n for n in h.macros if re.match(r"COROLINK_E[A-Z]", n)):
        want = error_value(h.macros[name])
        got = it_dv.get(name)
        if got is None:
            missing.append("error code %s: no `.It Dv %s` in RETURN VALUES"
                           % (name, name))
        elif want is not None and not re.match(r"^\s*%s\b" % re.escape(want),
                                               got.replace("\u2212", "-")):
            differ.append("%s: header value %s, RETURN VALUES says: %s"
                          % (name, want, got))

    # -- documented -> declared -----------------------------------------
    known_lower = set(h.functions) | h.types
    known_upper = set(h.macros) | h.config
    named_elsewhere = h.comment_text + "\n" + readme
    seen = set()
    for ln in page:
        words = " ".join([ln.macro or ""] + ln.args) if ln.macro else ln.text
        for name in ln.names_after("Fn") + ln.names_after("Fo"):
            if name.startswith("corolink") and name not in h.functions:
                seen.add(("function %s()" % name, ln.lineno))
        for name in ln.tokens_after("Dv"):
            if name.startswith("COROLINK") and name not in known_upper:
                seen.add(("constant %s" % name, ln.lineno))
        reported = {w.split()[1].rstrip("()") for w, n in seen}
        for name in re.findall(r"\bcorolink_\w+", words):
            if name in reported:
                continue
            if name.startswith("corolink__") or name not in known_lower:
                seen.add(("name %s" % name, ln.lineno))
        for name in re.findall(r"\bCOROLINK_\w+", words):
            if (name in known_upper or name in build_options or
                    name in reported):
                continue
            if name.startswith("COROLINK__"):
                seen.add(("internal name %s" % name, ln.lineno))
            elif name not in ev:
                seen.add(("name %s (not a header macro, not a build option, "
                          "not marked .Ev)" % name, ln.lineno))
            elif not re.search(r"\b%s\b" % name, named_elsewhere):
                seen.add(("environment variable %s (named neither in the "
                          "header nor in README.md)" % name, ln.lineno))
    first = {}
    for what, lineno in sorted(seen, key=lambda x: x[1]):
        first.setdefault(what, lineno)
    extra = ["%s (%s:%d)" % (w, pname, n) for w, n in
             sorted(first.items(), key=lambda x: x[1])]

    # -- report ----------------------------------------------------------
    print("man.api: %d functions, %d types, %d macros declared; %d "
          "prototypes in %s" % (len(h.functions), len(h.types),
                                len(h.macros) + len(h.config), len(protos),
                                pname))
    if missing:
        print("\ndeclared by the header but not documented in %s:" % pname)
        for m in missing:
            print("  - " + m)
    if extra:
        print("\ndocumented in %s but not declared by the header:" % pname)
        for m in extra:
            print("  - " + m)
    if differ:
        print("\ndocumented differently from the header:")
        for m in differ:
            print("  - " + m)
    if missing or extra or differ:
        print("\nFAILED: %d missing, %d extra, %d different" % (
            len(missing), len(extra), len(differ)))
        return 1
    print("OK: %s documents exactly what the header declares" % pname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
