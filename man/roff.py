"""Just enough mdoc(7) reading for the man page checks (check_api.py,
check_tools.py): macro lines split into tokens, escapes undone, comments
dropped, and the page cut into its sections and subsections."""
import re

# mdoc macro names as they stand among the arguments of a macro line
# (callable macros: Fl, Ar, Op, Dv, ...): a capital and one or two small
# letters. Option letters (`F`, `m`) and identifiers never look like that.
MACRO = re.compile(r"^[A-Z][a-z]{1,2}$")
# Delimiters that mdoc sets apart from the arguments around them.
DELIMS = set("|.,;:?!()[]")


def unescape(s):
    """The text of an argument: roff escapes replaced by what they print
    (enough for names and options)."""
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    s = re.sub(r"\\\((\S\S)", lambda m: {"dq": '"', "aq": "'"}.get(
        m.group(1), " "), s)
    s = re.sub(r"\\\[[^]]*\]", " ", s)
    s = re.sub(r"\\[fF](\[[^]]*\]|\(..|.)", "", s)
    return s


def split_args(line):
    """The arguments of a macro line ("quoted" ones kept whole; "" inside
    quotes is one quote), unescaped."""
    out, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        if line[i] == '"':
            i += 1
            buf = []
            while i < n:
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(line[i])
                i += 1
            out.append(unescape("".join(buf)))
        else:
            j = i
            while j < n and line[j] not in " \t":
                j += 1
            out.append(unescape(line[i:j]))
            i = j
    return out


class Line(object):
    """One input line: `macro` and `args` for a macro line (macro None for
    text), `text` its printed words, `sh`/`ss` the section and subsection
    it is in, `lineno` from 1."""

    def __init__(self, lineno, macro, args, text, sh, ss):
        self.lineno, self.macro, self.args = lineno, macro, args
        self.text, self.sh, self.ss = text, sh, ss

    def tokens_after(self, name):
        """The arguments that follow each `name` among this line's
        macro and arguments, up to the next macro name (delimiters
        skipped): for `Fl` every option the line spells, for `Dv` every
        constant."""
        words = [self.macro] + self.args if self.macro else []
        out, on = [], False
        for w in words:
            if MACRO.match(w):
                on = w == name
                continue
            if on and w not in DELIMS:
                out.append(w)
        return out


    def names_after(self, name):
        """The first argument after each `name` on this line: the function
        of every `Fn`, the name of every `Fo`."""
        words = [self.macro] + self.args if self.macro else []
        return [words[i + 1] for i, w in enumerate(words[:-1]) if w == name]


def read(path):
    """The page's lines as Line objects, comments left out."""
    lines, sh, ss = [], "", ""
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if re.match(r"^[.']\s*\\\"", raw):
                continue  # a comment line
            raw = re.sub(r'(?<!\\)\\".*$', "", raw)  # a trailing comment
            if raw[:1] in (".", "'"):
                parts = split_args(raw[1:].strip())
                if not parts:
                    continue
                macro, args = parts[0], parts[1:]
                if macro == "Sh":
                    sh, ss = " ".join(args), ""
                elif macro == "Ss":
                    ss = " ".join(args)
                text = " ".join(a for a in args if not MACRO.match(a))
                lines.append(Line(lineno, macro, args, text, sh, ss))
            else:
                lines.append(Line(lineno, None, [], unescape(raw), sh, ss))
    return lines
