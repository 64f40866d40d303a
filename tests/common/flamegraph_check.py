"""Checks of a flame graph written by `corolink-stacks --svg` or
`corolink-perf report --svg` (tests/stacks, tests/perf), against the layout
rules of perf/README.md ("Flame graphs"): well-formed XML (xmllint --noout
where it is installed, and ElementTree), self-contained, the search and
zoom script present, a root "all" of every sample, each frame's children
within it and summing to at most its count, widths and percentages that
match the counts."""
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
TIP = re.compile(r"^(.*) \((\d+) samples, ([\d.]+)%\)(?:\n(.*))?$", re.S)
WIDTH = 1180.0  # 1200 px less 10 px on each side
MIN_WIDTH = 0.1


class Frame:
    def __init__(self, g):
        tip = g.find(NS + "title").text
        m = TIP.match(tip)
        if not m:
            raise ValueError("tooltip %r" % tip)
        self.name, self.n, self.pct, self.coroutine = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4)
        r = g.find(NS + "rect")
        self.x, self.w, self.y = float(r.get("x")), float(r.get("width")), int(r.get("y"))
        self.fill = r.get("fill")
        self.boundary = "b" in g.get("class").split()
        self.label = g.find(NS + "text").text or ""
        self.parent, self.children = None, []

    def path(self):
        p, f = [], self
        while f.parent is not None:
            p.append(f.name)
            f = f.parent
        return tuple(reversed(p))


class Graph:
    """Parses path; .problems lists what is wrong (empty: fine)."""

    def __init__(self, path):
        self.problems, self.frames, self.script, self.style = [], [], "", ""
        if shutil.which("xmllint"):
            r = subprocess.run(["xmllint", "--noout", path], capture_output=True, text=True)
            if r.returncode != 0:
                self.problems.append("xmllint --noout: " + r.stderr.strip()[:600])
        else:
            print("note: xmllint not found (Debian: libxml2-utils), checked with ElementTree only")
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            self.problems.append("not well-formed XML: %s" % e)
            return
        text = open(path, encoding="utf-8").read()
        if root.tag != NS + "svg":
            self.problems.append("root element %s" % root.tag)
        if re.search(r"href|<image|url\(|@import", text):
            self.problems.append("refers to something outside the file")
        s, st = root.find(NS + "script"), root.find(NS + "style")
        self.script = s.text if s is not None else ""
        self.style = st.text if st is not None else ""
        for need in ("function search", "function zoom", "keydown", '$("matched")'):
            if need not in self.script:
                self.problems.append("the script lacks %s" % need)
        ids = {e.get("id") for e in root.iter()}
        for need in ("search", "matched", "unzoom", "details", "frames"):
            if need not in ids:
                self.problems.append("no element with id %s" % need)
        for g in root.iter(NS + "g"):
            if "f" in (g.get("class") or "").split():
                try:
                    self.frames.append(Frame(g))
                except (ValueError, AttributeError, TypeError) as e:
                    self.problems.append("a frame does not parse: %s" % e)
        if not self.frames or self.frames[0].name != "all":
            self.problems.append("the first frame is not the root \"all\"")
            return
        self.root = self.frames[0]
        self.total = self.root.n
        self._tree()

    def _tree(self):
        t, root = self.total, self.root
        if abs(root.x - 10) > 0.001 or abs(root.w - WIDTH) > 0.001:
            self.problems.append("the root is not full width: x %s width %s" % (root.x, root.w))
        by_y = {}
        for f in self.frames:
            by_y.setdefault(f.y, []).append(f)
        for f in self.frames[1:]:
            want = f.n * WIDTH / t if t else 0
            if abs(f.w - want) > 0.006:
                self.problems.append("%s: width %.2f for %d of %d samples" % (f.name, f.w, f.n, t))
            if f.w < MIN_WIDTH - 0.006:
                self.problems.append("%s: narrower than %s px" % (f.name, MIN_WIDTH))
            centre = f.x + f.w / 2
            below = [p for p in by_y.get(f.y + 16, []) if p.x - 0.006 <= centre <= p.x + p.w + 0.006]
            if len(below) != 1:
                self.problems.append("%s at x %.2f y %d: %d frames below it" % (f.name, f.x, f.y, len(below)))
                continue
            f.parent = below[0]
            below[0].children.append(f)
            if f.x < below[0].x - 0.011 or f.x + f.w > below[0].x + below[0].w + 0.021:  # rounding
                self.problems.append("%s sticks out of %s" % (f.name, below[0].name))
        for f in self.frames:
            want = 100.0 * f.n / t if t else 0.0
            if abs(f.pct - want) > 0.0051:
                self.problems.append("%s: %.2f%% for %d of %d" % (f.name, f.pct, f.n, t))
            if sum(c.n for c in f.children) > f.n:
                self.problems.append("%s: children sum to %d > %d" % (f.name, sum(c.n for c in f.children), f.n))
            if len({c.name for c in f.children}) != len(f.children):
                self.problems.append("%s: two children with one name" % f.name)

    def stacks(self):
        """{path (root first, without "all"): samples ending there}: the
        folded stacks, where no frame was left out for being too narrow."""
        out = {}
        for f in self.frames[1:]:
            own = f.n - sum(c.n for c in f.children)
            if own:
                out[f.path()] = own
        return out


def folded(text):
    """{frames: count} of folded lines."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            stack, n = line.rsplit(" ", 1)
            out[tuple(stack.split(";"))] = out.get(tuple(stack.split(";")), 0) + int(n)
    return out


def expected_stacks(stacks):
    """What Graph.stacks() must give for folded stacks: the same, except
    that frames narrower than MIN_WIDTH px are left out (their samples end
    at the frame below them)."""
    total = sum(stacks.values())
    prefix = {}
    for s, n in stacks.items():
        for i in range(1, len(s) + 1):
            prefix[s[:i]] = prefix.get(s[:i], 0) + n
    out = {}
    for s, n in stacks.items():
        k = len(s)
        for i in range(1, len(s) + 1):
            if prefix[s[:i]] * WIDTH / total < MIN_WIDTH:
                k = i - 1
                break
        if k:
            out[s[:k]] = out.get(s[:k], 0) + n
    return out


def hue(fill):
    m = re.match(r"hsl\((\d+),", fill or "")
    return int(m.group(1)) if m else None
