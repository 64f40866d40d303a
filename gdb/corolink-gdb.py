# corolink-gdb.py - gdb support for corolink coroutines (Linux: x86-64,
# AArch64).
#
#   source gdb/corolink-gdb.py        (or auto-load: see gdb/README.md)
#
# Commands:
#   info coroutines [-state S] [-name RE] [-bt RE] [-group] [ID...]
#   coroutine [ID]                    select a coroutine's stack (none: back)
#   coroutine apply all|ID... CMD     run CMD on each coroutine's stack
# plus pretty-printers for `corolink *` and `corolink_yielder *`, and a frame
# decorator naming the linked boundary in `bt`.
#
# Everything is decoded through the library's exported debug-offsets table
# `corolink_debug_offsets` (src/registry.c): no DWARF of the library is
# needed, so this works with a libcorolink.so stripped with --strip-all, on
# live processes and core files. The inferior is never written to.
# Registers are read by the names the table's target description gives
# (its DWARF register numbers, mapped per ELF machine below): nothing here
# knows one target's registers beyond that map.

import bisect
import gc
import operator
import re
import struct
import time

import gdb
import gdb.unwinder

try:
    from gdb.FrameDecorator import FrameDecorator
except ImportError:  # pragma: no cover
    FrameDecorator = object

_NAME = "corolink"
_MAX_CHUNKS = 1 << 16        # bound of every registry walk
_MAX_SLOTS_PER_CHUNK = 1 << 22
_MAX_NEST = 256              # bound of the running-chain walk
_MAX_FRAMES = 4096           # bound of every frame walk

STATES = ("created", "running", "suspended", "finished")
FINISHED_HOW = {1: "returned", 2: "trapped", 3: "threw", 4: "unwound",
                5: "reset"}


class CorolinkError(gdb.GdbError):
    pass


# ---------------------------------------------------------------------------
# memory and the debug table

def _has_core():
    try:
        conn = gdb.selected_inferior().connection
        return conn is not None and conn.type == "core"
    except Exception:
        return False


def _read(addr, size):
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, size))
    except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
        raise CorolinkError(
            "corolink: cannot read %d bytes at 0x%x" % (size, addr))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _uptr(t, addr):
    """A pointer of the table's target (4 or 8 bytes) at addr."""
    return t.word.unpack(_read(addr, t.ptr))[0]


# Many reads at once: a live process debugged natively is read with
# process_vm_readv(2), 1024 blocks a call (gdb reads one block a system
# call, and the kernel then copies from the target's pages without
# faulting on them one by one); cores, remote targets or a kernel that
# refuses fall back to one read each.
_IOV_BATCH = 1024
_libc = None


def _vm_readv():
    """libc's process_vm_readv through ctypes, or None."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            import ctypes.util
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                              use_errno=True)
            fn = lib.process_vm_readv
            fn.restype = ctypes.c_ssize_t
            _libc = (ctypes, fn)
        except (ImportError, OSError, AttributeError):
            _libc = False
    return _libc or None


def _read_many(addrs, size):
    """[bytes or None] of `size` bytes at each address (None: unreadable)."""
    out = [None] * len(addrs)
    inf = gdb.selected_inferior()
    vm = None
    try:
        if inf.pid > 0 and inf.connection is not None and \
                inf.connection.type == "native":
            vm = _vm_readv()
    except (AttributeError, gdb.error):
        vm = None
    done = 0
    if vm is not None:
        ctypes, fn = vm

        class Iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        n = min(_IOV_BATCH, len(addrs))
        buf = ctypes.create_string_buffer(n * size)
        local = (Iovec * n)()
        remote = (Iovec * n)()
        base = ctypes.addressof(buf)
        for k in range(n):
            local[k].base = base + k * size
            local[k].len = size
            remote[k].len = size
        while done < len(addrs):
            m = min(n, len(addrs) - done)
            for k in range(m):
                remote[k].base = addrs[done + k]
            got = fn(inf.pid, local, m, remote, m, 0)
            if got <= 0:
                break
            whole = got // size    # a short read stops at the first gap
            raw = buf.raw
            for k in range(whole):
                out[done + k] = raw[k * size:(k + 1) * size]
            done += whole
            if whole < m:
                # the block that failed, one read; then go on in batches
                try:
                    out[done] = _read(addrs[done], size)
                except CorolinkError:
                    pass
                done += 1
    for k in range(done, len(addrs)):
        try:
            out[k] = _read(addrs[k], size)
        except CorolinkError:
            pass
    return out


_TABLE_FIELDS = [
    ("magic", "8s"), ("version", "I"), ("size", "I"), ("abi_version", "I"),
    ("pointer_size", "I"), ("control_size", "I"),
    ("off_pc", "I"), ("off_sp", "I"), ("off_fp", "I"), ("off_finished", "I"),
    ("off_fn", "I"), ("off_arg", "I"), ("off_id", "I"),
    ("off_name", "I"), ("name_size", "I"),
    ("off_stack_limit", "I"), ("off_stack_top", "I"), ("off_guard", "I"),
    ("off_link_fp", "I"), ("off_link_ra", "I"), ("off_link_sp", "I"),
    ("off_check", "I"), ("off_create_site", "I"), ("off_suspend_ns", "I"),
    ("off_trap_signo", "I"), ("off_trap_addr", "I"), ("finished_size", "I"),
    ("check_xor", "Q"), ("trampoline", "Q"), ("trampoline_ret", "Q"),
    ("trampoline_end", "Q"), ("suspended_pc_adjust", "q"),
    ("registry", "Q"), ("chunk_off_next", "I"), ("chunk_off_nslots", "I"),
    ("chunk_off_slots", "I"), ("slot_size", "I"), ("slot_tag_mask", "Q"),
    ("debug_flags", "Q"), ("clock_id", "I"), ("reserved", "I"),
]
# natural alignment, little-endian, as the C struct
_TABLE_FMT = "<" + "".join(f for _, f in _TABLE_FIELDS)
# version 2: the target description, appended at 0xc8
_TABLE_V2_FIELDS = [
    ("target", "32s"), ("elf_machine", "I"), ("dwarf_pc", "I"),
    ("dwarf_sp", "I"), ("dwarf_fp", "I"), ("dwarf_ra", "I"), ("nsaved", "I"),
] + [(n % i, "I") for i in range(4) for n in ("saved%d_dwarf",
                                               "saved%d_off")]
_TABLE_V1_SIZE = struct.calcsize(_TABLE_FMT)        # 0xc8
_TABLE_V2_FMT = "<" + "".join(f for _, f in _TABLE_V2_FIELDS)
_TABLE_V2_SIZE = _TABLE_V1_SIZE + struct.calcsize(_TABLE_V2_FMT)   # 0x120
# version 3: [hidden_lo, hidden_hi), the library's resume path (timestamps,
# probes, tools), appended at 0x120: its frames are left out of backtraces
_TABLE_V3_FMT = "<QQ"
_TABLE_V3_SIZE = _TABLE_V2_SIZE + struct.calcsize(_TABLE_V3_FMT)   # 0x130
_MAX_SAVED = 4

# gdb's names of the DWARF register numbers, per ELF machine (e_machine),
# and the name gdb gives the architecture (to catch a table read under the
# wrong one)
_EM_386 = 3
_EM_ARM = 40
_EM_X86_64 = 62
_EM_AARCH64 = 183
_EM_RISCV = 243
# RISC-V: x0-x31 are DWARF 0-31 (gdb's ABI names), f0-f31 32-63; the pc has
# no DWARF number: the table says 64 (src/arch/riscv64_linux.h).
_RISCV_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
                "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3",
                "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
                "t5", "t6")
# i386: DWARF 0-8 (eip is the return-address column too)
_I386_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip")
# ARM32: r0-r15 are DWARF 0-15 (sp 13, lr 14, pc 15)
_ARM_NAMES = tuple("r%d" % i for i in range(13)) + ("sp", "lr", "pc")
_X86_64_NAMES = ("rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                 "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip")
_MACHINES = {
    _EM_X86_64: ("x86-64", dict(enumerate(_X86_64_NAMES)), "x86-64"),
    _EM_AARCH64: ("AArch64", dict([(i, "x%d" % i) for i in range(31)] +
                                  [(31, "sp"), (32, "pc")]), "aarch64"),
    _EM_RISCV: ("RISC-V 64", dict(list(enumerate(_RISCV_NAMES)) +
                                  [(64, "pc")]), "riscv:rv64"),
    _EM_386: ("i386", dict(enumerate(_I386_NAMES)), "i386"),
    _EM_ARM: ("ARM32", dict(enumerate(_ARM_NAMES)), "arm"),
}
# gdb architecture names that contain a machine's name but are another
# machine's: "i386:x86-64" is not i386
_ARCH_NOT = {_EM_386: ("x86-64", "x64-32")}
# the pointer size of each machine's tables (a table that says otherwise is
# damaged); 8 where not listed
_POINTER_SIZE = {_EM_386: 4, _EM_ARM: 4}
# machines whose code addresses carry the instruction set in bit 0 (ARM32:
# set for Thumb), and the register and bit that say it in a frame's
# registers (cpsr's T bit): gdb takes a frame's state from them
_MODE_BIT = {_EM_ARM: ("cpsr", 0x20)}
# pointer-sized words, per pointer size: (one, a pair {frame pointer,
# return address}, the mask of an address)
_WORDS = {4: (struct.Struct("<I"), struct.Struct("<II"), 0xffffffff),
          8: (struct.Struct("<Q"), struct.Struct("<QQ"), 0xffffffffffffffff)}
_WORD_CODE = {4: "I", 8: "Q"}
# gdb takes a suspended coroutine's innermost frame for a caller's, whose pc
# is a return address, and looks it up (function, line, CFI row) at pc - 1:
# in the instruction before the switch, which the compiler may have
# scheduled from anywhere in the function. Where instructions have one
# width, the frame shows the pc one instruction on, so that gdb looks it up
# in the switch's first instruction: that instruction leaves the registers
# of `saved` as they were (both targets' switch-out starts with the body's
# own rows), so the unwind is the same. x86-64 (variable width) shows the
# table's pc, looked up one byte before it.
_PC_LOOKUP_BIAS = {_EM_X86_64: 0, _EM_AARCH64: 4, _EM_RISCV: 4, _EM_386: 0,
                   _EM_ARM: 2}
# (ARM32: 2, the narrowest instruction of either state: looked up at the
# switch's first instruction + 1, inside it in ARM and in Thumb state)
# where a frame record {caller's frame pointer, return address} lies from
# the frame pointer: RISC-V's s0 is the frame's CFA, the record below it
_FP_RECORD_OFFSET = {_EM_RISCV: -16}
# what a version 1 table (x86-64 builds only) means: x86-64
_V1_TARGET = dict(target=b"x86_64-sysv-elf", elf_machine=_EM_X86_64,
                  dwarf_pc=16, dwarf_sp=7, dwarf_fp=6, dwarf_ra=16)


class Table(object):
    """The decoded corolink_debug_offsets table."""

    def __init__(self, addr, raw):
        vals = struct.unpack(_TABLE_FMT, raw[:struct.calcsize(_TABLE_FMT)])
        for (name, _), v in zip(_TABLE_FIELDS, vals):
            setattr(self, name, v)
        self.addr = addr
        if self.magic != b"CLNKDBG\0":
            raise CorolinkError("corolink: bad debug table magic at 0x%x"
                                % addr)
        if self.version < 1 or self.pointer_size not in _WORDS or \
                self.size < _TABLE_V1_SIZE:
            raise CorolinkError(
                "corolink: unsupported debug table (version %d, size %d)"
                % (self.version, self.size))
        self._target(raw)
        # the target's words: pointers, control block fields, registry
        # slots, frame records (4 bytes on i386)
        self.ptr = self.pointer_size
        self.word, self.pair, self.addr_mask = _WORDS[self.ptr]
        P = _WORD_CODE[self.ptr]
        self.hidden_lo = self.hidden_hi = 0
        if self.version >= 3 and self.size >= _TABLE_V3_SIZE and \
                len(raw) >= _TABLE_V3_SIZE:
            lo, hi = struct.unpack_from(_TABLE_V3_FMT, raw, _TABLE_V2_SIZE)
            if lo <= hi:
                self.hidden_lo, self.hidden_hi = lo, hi
        # code addresses as gdb's pcs are: without ARM32's Thumb bit (bit
        # 0); trampoline_entry: what a created coroutine's pc holds
        self.mode_bit = _MODE_BIT.get(self.elf_machine)
        self.code_mask = self.addr_mask & ~(1 if self.mode_bit else 0)
        self.trampoline_entry = self.trampoline
        self.trampoline_ret_thumb = bool(self.mode_bit and
                                         self.trampoline_ret & 1)
        for n in ("trampoline", "trampoline_end", "trampoline_ret",
                  "hidden_lo", "hidden_hi"):
            setattr(self, n, getattr(self, n) & self.code_mask)
        # how much of a control block to read at once
        ends = [self.off_pc, self.off_sp, self.off_fp, self.off_fn,
                self.off_arg, self.off_id, self.off_stack_limit,
                self.off_stack_top, self.off_guard, self.off_link_fp,
                self.off_link_ra, self.off_link_sp, self.off_check,
                self.off_create_site, self.off_suspend_ns]
        self.read_size = max(max(ends) + 8,
                             self.off_finished + 4,
                             self.off_name + self.name_size,
                             max(off for _, off in self.saved) + 8)
        # id and suspend_ns are 64-bit on every target, the rest pointers
        self.block_struct = _fields_struct(
            [(o, P) for o in (
                self.off_pc, self.off_sp, self.off_fp, self.off_fn,
                self.off_arg)] + [(self.off_id, "Q")] +
            [(o, P) for o in (
                self.off_stack_limit,
                self.off_stack_top, self.off_guard, self.off_link_fp,
                self.off_link_ra, self.off_link_sp, self.off_create_site)] +
            [(self.off_suspend_ns, "Q"), (self.off_finished, "I")])
        self.saved_struct = _fields_struct([(o, P) for _, o in self.saved])
        self.saved_names = tuple(n for n, _ in self.saved)
        if self.block_struct is None or self.saved_struct is None:
            raise CorolinkError("corolink: bad debug table at 0x%x: "
                                "overlapping control block fields" % addr)

    def _target(self, raw):
        """The target description: version 2 carries it; version 1 (or a
        table too short for it) is x86-64's. Sets the gdb register names
        of the pc, sp and frame pointer, and `saved`: [(gdb register name,
        offset in the control block)] of what a suspended coroutine keeps
        besides its pc."""
        if self.version >= 2 and self.size >= _TABLE_V2_SIZE and \
                len(raw) >= _TABLE_V2_SIZE:
            vals = struct.unpack_from(_TABLE_V2_FMT, raw, _TABLE_V1_SIZE)
            d = dict(zip((n for n, _ in _TABLE_V2_FIELDS), vals))
            saved = [(d["saved%d_dwarf" % i], d["saved%d_off" % i])
                     for i in range(min(d["nsaved"], _MAX_SAVED))]
            if d["nsaved"] > _MAX_SAVED:
                raise CorolinkError(
                    "corolink: bad debug table at 0x%x: %d saved registers "
                    "(at most %d)" % (self.addr, d["nsaved"], _MAX_SAVED))
        else:
            d = dict(_V1_TARGET)
            saved = [(7, self.off_sp), (6, self.off_fp)]
        self.target = d["target"].split(b"\0", 1)[0].decode("ascii",
                                                             "replace")
        self.elf_machine = d["elf_machine"]
        m = _MACHINES.get(self.elf_machine)
        if m is None:
            raise CorolinkError(
                "corolink: unsupported target %r (ELF machine %d) in the "
                "debug table: this plugin knows %s" % (
                    self.target, self.elf_machine,
                    ", ".join(v[0] for v in _MACHINES.values())))
        self.machine, names, self.gdb_arch = m
        want = _POINTER_SIZE.get(self.elf_machine, 8)
        if self.pointer_size != want:
            raise CorolinkError(
                "corolink: bad debug table at 0x%x: pointer size %d for %s "
                "(%d)" % (self.addr, self.pointer_size, m[0], want))
        self.pc_bias = _PC_LOOKUP_BIAS[self.elf_machine]
        self.fp_record = _FP_RECORD_OFFSET.get(self.elf_machine, 0)

        def name(what, num):
            if num not in names:
                raise CorolinkError(
                    "corolink: bad debug table at 0x%x: %s register %d is "
                    "not a %s register" % (self.addr, what, num, m[0]))
            return names[num]
        self.pc_reg = name("pc", d["dwarf_pc"])
        self.sp_reg = name("sp", d["dwarf_sp"])
        self.fp_reg = name("frame pointer", d["dwarf_fp"])
        self.ra_reg = name("return address", d["dwarf_ra"])
        self.saved = []
        for num, off in saved:
            if off + 8 > 1 << 16:
                raise CorolinkError(
                    "corolink: bad debug table at 0x%x: saved register %d "
                    "at offset 0x%x" % (self.addr, num, off))
            self.saved.append((name("saved", num), off))
        if self.sp_reg not in [n for n, _ in self.saved]:
            raise CorolinkError(
                "corolink: bad debug table at 0x%x: the stack pointer is "
                "not among the saved registers" % self.addr)

    def check_arch(self):
        """Raises if gdb debugs another architecture than the table's."""
        try:
            arch = gdb.selected_inferior().architecture().name()
        except (AttributeError, gdb.error):
            try:
                arch = gdb.selected_frame().architecture().name()
            except gdb.error:
                return
        if self.gdb_arch not in arch or \
                any(n in arch for n in _ARCH_NOT.get(self.elf_machine, ())):
            raise CorolinkError(
                "corolink: the debug table describes %s (%s) but gdb "
                "debugs %s" % (self.machine, self.target, arch))

    def in_trampoline(self, pc):
        return self.trampoline <= pc < self.trampoline_end

    def in_hidden(self, pc):
        """In the library's resume path (corolink__resume_traced(),
        corolink__enter(), ...), whose frames bt leaves out."""
        return self.hidden_lo <= pc < self.hidden_hi


_table_cache = {}


def _clear_table_cache(*_args):
    _table_cache.clear()
    _unwind_memo.clear()
    _chains.clear()
    _code_cache.clear()


_SECTION_RE = re.compile(r"^\s*0x([0-9a-f]+) - 0x[0-9a-f]+ is \.corolink_debug\b",
                         re.M)


def _table_by_section():
    """The table's address from its section, `.corolink_debug`, for a
    program that links libcorolink.a and has no symbols left (strip
    --strip-all keeps section headers). `info files` lists every loaded
    file's sections at their run-time addresses, on live processes and
    core files alike. None if there is none."""
    try:
        text = gdb.execute("info files", to_string=True)
    except gdb.error:
        return None
    m = _SECTION_RE.search(text)
    return int(m.group(1), 16) if m else None


def _table(required=True):
    """The debug table of the selected inferior (cached per inferior and
    process; None if the program does not use corolink and not
    required)."""
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0:
        if required:
            raise CorolinkError("corolink: no process or core file")
        return None
    key = (inf.num, inf.pid, _has_core())
    if key in _table_cache:
        t = _table_cache[key]
    else:
        t = None
        try:
            addr = int(gdb.parse_and_eval(
                "(unsigned long)&corolink_debug_offsets"))
        except gdb.error:
            addr = _table_by_section()
        if addr:
            try:
                raw = bytes(inf.read_memory(addr, _TABLE_V1_SIZE))
                version, size = struct.unpack_from("<II", raw, 8)
                if version >= 3 and size >= _TABLE_V3_SIZE:
                    raw = bytes(inf.read_memory(addr, _TABLE_V3_SIZE))
                elif version >= 2 and size >= _TABLE_V2_SIZE:
                    raw = bytes(inf.read_memory(addr, _TABLE_V2_SIZE))
                t = Table(addr, raw)
                t.check_arch()
            except (gdb.MemoryError, gdb.error) as e:
                t = e
            except CorolinkError as e:
                t = e
        _table_cache[key] = t
    if isinstance(t, Exception):
        if required:
            raise CorolinkError(str(t).splitlines()[0] if str(t) else
                                "corolink: cannot read the debug table")
        return None
    if t is None and required:
        raise CorolinkError(
            "corolink: this program does not use corolink "
            "(no symbol corolink_debug_offsets)")
    return t


# ---------------------------------------------------------------------------
# coroutines

_CONTROL = re.compile(b"[\x00-\x1f\x7f]")


def _fields_struct(fields):
    """A struct.Struct that unpacks little-endian fields [(offset, code)]
    ('Q' or 'I') from a control block, in the order given."""
    order = sorted(range(len(fields)), key=lambda i: fields[i][0])
    fmt, pos = "<", 0
    for i in order:
        off, code = fields[i]
        if off < pos:
            return None     # overlapping fields: a damaged table
        if off > pos:
            fmt += "%dx" % (off - pos)
        fmt += code
        pos = off + struct.calcsize("<" + code)
    st = struct.Struct(fmt)
    if order == sorted(order):
        return st
    # back to the order asked for (itemgetter: one C call)
    pick = operator.itemgetter(*[order.index(i) for i in range(len(order))])

    class _Reordered(object):
        size = st.size

        @staticmethod
        def unpack_from(raw, off=0):
            return pick(st.unpack_from(raw, off))
    return _Reordered()


class Coroutine(object):
    __slots__ = ("addr", "id", "name", "pc", "sp", "fp", "finished", "fn",
                 "arg", "stack_limit", "stack_top", "guard", "link_fp",
                 "link_ra", "link_sp", "create_site", "suspend_ns", "state",
                 "thread", "innermost", "nest", "name_ok", "slots", "damage",
                 "saved", "chain")

    def __init__(self, t, addr, raw, base=0):
        """raw[base:] holds the control block at addr; where base is
        _CHAIN_WINDOW, raw[:base] holds the top of its stack (read in the
        same go) for its frame-pointer chain."""
        # every fixed field in one unpack (Table.block_struct): a million
        # blocks are decoded by `info coroutines`
        (self.pc, self.sp, self.fp, self.fn, self.arg, self.id,
         self.stack_limit, self.stack_top, self.guard, self.link_fp,
         self.link_ra, self.link_sp, self.create_site, self.suspend_ns,
         self.finished) = t.block_struct.unpack_from(raw, base)[:15]
        self.addr = addr
        nm = raw[base + t.off_name:base + t.off_name + t.name_size]
        name, nul, _ = nm.partition(b"\0")
        self.name = name.decode("utf-8", "replace")
        # readable: NUL-terminated, no control characters
        self.name_ok = bool(nul) and not _CONTROL.search(name)
        self.slots = []         # registry slots holding it (> 1: damage)
        self.damage = None      # what is wrong with its registers/frames
        # [(gdb register name, value)] a suspended coroutine unwinds from,
        # besides its pc (the table's `saved`: sp, frame pointer)
        self.saved = tuple(zip(t.saved_names,
                               t.saved_struct.unpack_from(raw, base)))
        if self.finished:
            self.state = "finished"
        elif self.pc == 0:
            self.state = "running"
        elif self.pc == t.trampoline_entry:
            self.state = "created"
        else:
            self.state = "suspended"
        self.thread = None      # gdb thread (running ones)
        self.innermost = False  # running: the one containing the thread's sp
        self.nest = 0           # running: coroutines nested inside it
        # suspended: its frame-pointer chain (_fp_chain; None: not read yet)
        self.chain = None
        if self.state == "suspended" and base == _CHAIN_WINDOW:
            self.chain = _fp_chain(self, raw, base, t.fp_record, t.pair)

    def contains(self, sp):
        return (self.stack_limit - self.guard) <= sp < self.addr

    def unwind_pc(self, t):
        """The pc a suspended coroutine unwinds from."""
        return (self.pc + t.suspended_pc_adjust) & t.addr_mask

    def finished_how(self):
        return FINISHED_HOW.get(self.finished, str(self.finished))


_CHAIN_WINDOW = 1024     # bytes of stack read with each control block
_CHAIN_MAX = 64          # frame records in a chain, at most
_chains = {}             # chains interned: a million coroutines share a few


def _fp_chain(co, raw=None, base=0, rec=0, pair=_WORDS[8][1]):
    """A suspended coroutine's frame-pointer chain, part of its unwind memo
    key (_backtrace): (offset of a frame record from the top, its return
    address, ...) from the saved frame pointer up, while each record lies in
    the stack above the last. Coroutines suspended at the same pc with the
    same offsets can still have been called from different places; their
    chains tell them apart. raw[base - _CHAIN_WINDOW:base] holds the bytes
    just below the control block; records deeper down are read from the
    target. Built without frame pointers, the chain is whatever the register
    points to: still a finer key, never a wrong one."""
    top = co.addr
    fp = co.fp
    lo = co.sp
    out = []
    size = pair.size    # a record: two of the target's words
    while len(out) < 2 * _CHAIN_MAX and lo <= fp + rec and \
            fp + rec + size <= top:
        off = top - (fp + rec)
        if raw is not None and off <= _CHAIN_WINDOW:
            nxt, ra = pair.unpack_from(raw, base - off)
        else:
            try:
                nxt, ra = pair.unpack(_read(fp + rec, size))
            except CorolinkError:
                out += (off, None)
                break
        out += (off, ra)
        lo = fp + rec + size
        fp = nxt
    c = tuple(out)
    return _chains.setdefault(c, c)


def _load(t, addr):
    raw = _read(addr, t.read_size)
    check = t.word.unpack_from(raw, t.off_check)[0]
    if check != (addr ^ t.check_xor) & t.addr_mask:
        return None
    return Coroutine(t, addr, raw)


def _walk_registry(t):
    """[(slot address, control block address)] of the live slots, bounded
    and cycle-safe."""
    if t.registry == 0:
        raise CorolinkError(
            "corolink: this libcorolink was built without the registry")
    out = []
    seen = set()
    chunk = _uptr(t, t.registry)
    n = 0
    while chunk:
        if chunk in seen:
            gdb.write("warning: corolink: registry chunk list has a cycle "
                      "at 0x%x\n" % chunk)
            break
        seen.add(chunk)
        n += 1
        if n > _MAX_CHUNKS:
            gdb.write("warning: corolink: more than %d registry chunks; "
                      "stopped\n" % _MAX_CHUNKS)
            break
        try:
            nslots = _u64(chunk + t.chunk_off_nslots)
            if nslots > _MAX_SLOTS_PER_CHUNK:
                gdb.write("warning: corolink: registry chunk 0x%x claims %d "
                          "slots; skipped\n" % (chunk, nslots))
                nxt = _uptr(t, chunk + t.chunk_off_next)
                chunk = nxt
                continue
            raw = _read(chunk + t.chunk_off_slots, nslots * t.ptr)
            nxt = _uptr(t, chunk + t.chunk_off_next)
        except CorolinkError as e:
            gdb.write("warning: %s (registry chunk 0x%x); stopped\n"
                      % (e, chunk))
            break
        base = chunk + t.chunk_off_slots
        for i, v in enumerate(struct.unpack(
                "<%d%s" % (nslots, _WORD_CODE[t.ptr]), raw)):
            if v != 0 and (v & t.slot_tag_mask) == 0:
                out.append((base + t.ptr * i, v))
        chunk = nxt
    return out


def _thread_sps(t):
    """[(gdb thread, stack pointer)] of the selected inferior's threads."""
    res = []
    inf = gdb.selected_inferior()
    cur = gdb.selected_thread()
    try:
        for th in inf.threads():
            if th.is_exited():
                continue
            try:
                th.switch()
                sp = int(gdb.newest_frame().read_register(t.sp_reg))
                res.append((th, sp))
            except gdb.error:
                pass
    finally:
        if cur is not None and cur.is_valid():
            cur.switch()
    return res


class _Progress(object):
    """A progress line for a long listing: once `what` has taken more
    than a second, one line a second (a million coroutines take tens of
    seconds to read)."""

    def __init__(self, what, total, t0=None):
        self.what = what
        self.total = total
        self.t0 = time.monotonic() if t0 is None else t0
        self.next = self.t0 + 1.0

    def tick(self, done):
        if done & 1023:
            return
        now = time.monotonic()
        if now >= self.next:
            gdb.write("corolink: %s %d of %d coroutines (%.0f s)...\n"
                      % (self.what, done, self.total, now - self.t0))
            gdb.flush()
            self.next = now + 1.0


def coroutines(t=None, t0=None):
    """All live coroutines, sorted by id, with running threads assigned.
    t0: when the command started (for the progress line)."""
    if t is None:
        t = _table()
    cos = []
    bad = 0
    # a control block in several slots (a damaged registry) is listed once
    slots = {}
    for slot, addr in _walk_registry(t):
        slots.setdefault(addr, []).append(slot)
    progress = _Progress("read", len(slots), t0)
    addrs = list(slots)
    for at in range(0, len(addrs), _IOV_BATCH * 16):
        progress.tick(at)
        part = addrs[at:at + _IOV_BATCH * 16]
        # each block with the top of its stack below it (_fp_chain); a
        # block whose stack cannot be read is read alone
        w = _CHAIN_WINDOW
        for addr, raw in zip(part, _read_many([max(a - w, 0) for a in part],
                                              w + t.read_size)):
            base = w
            if raw is None or addr < w:
                raw, base = _read_many([addr], t.read_size)[0], 0
            co = None
            if raw is not None and t.word.unpack_from(
                    raw, base + t.off_check)[0] == \
                    (addr ^ t.check_xor) & t.addr_mask:
                co = Coroutine(t, addr, raw, base)
            if co is None:
                bad += 1
                continue
            co.slots = sorted(slots[addr])
            cos.append(co)
    if bad:
        gdb.write("warning: corolink: %d registry slot(s) do not hold a valid "
                  "control block (bad check word or unreadable)\n" % bad)
    cos.sort(key=lambda c: c.id)
    running = [c for c in cos if c.state == "running"]
    if running:
        with _NoSelection():
            sps = _thread_sps(t)
        for th, sp in sps:
            cur = None
            for c in running:
                if c.contains(sp):
                    cur = c
                    break
            n = 0
            first = True
            while cur is not None and cur.thread is None and n < _MAX_NEST:
                cur.thread = th
                cur.innermost = first
                cur.nest = n
                first = False
                n += 1
                nxt = None
                for c in running:
                    if c is not cur and c.thread is None and \
                            c.contains(cur.link_sp):
                        nxt = c
                        break
                cur = nxt
    return cos


def _find(t, ident, cos=None):
    if cos is None:
        cos = coroutines(t)
    for c in cos:
        if c.id == ident:
            return c
    raise CorolinkError("corolink: no coroutine with id %d" % ident)


# ---------------------------------------------------------------------------
# selection: the unwinder and the frame filter

class _Selection(object):
    def __init__(self, t, co, thread_ptid):
        self.co = co
        self.ptid = thread_ptid
        self.pc = co.unwind_pc(t) + t.pc_bias
        self.saved = co.saved
        self.sp = dict(co.saved)[t.sp_reg]
        self.pc_reg = t.pc_reg
        self.fp_reg = t.fp_reg
        self.sp_reg = t.sp_reg
        self.tramp_lo = t.trampoline
        self.tramp_hi = t.trampoline_end
        self.tramp_ret = t.trampoline_ret
        # ARM32: (cpsr, T bit, Thumb at the resume point, Thumb at the
        # trampoline's return address)
        self.mode = t.mode_bit and (t.mode_bit + (bool(co.pc & 1),
                                                  t.trampoline_ret_thumb))
        # where the root frame's frame pointer points: at link_fp, or
        # (RISC-V) just above the record {link_fp, link_ra}
        self.off_link_fp = t.off_link_fp - t.fp_record


_selected = None     # the coroutine whose stack is shown (None: real stack)


def _set_selection(sel):
    global _selected
    _selected = sel
    gdb.invalidate_cached_frames()


class _NoSelection(object):
    """Temporarily shows the threads' real stacks."""

    def __enter__(self):
        self.saved = _selected
        if self.saved is not None:
            _set_selection(None)

    def __exit__(self, *a):
        if self.saved is not None:
            _set_selection(self.saved)


class CorolinkUnwinder(gdb.unwinder.Unwinder):
    """While a suspended coroutine is selected, the caller of the selected
    thread's frame #0 is the coroutine's innermost frame."""

    def __init__(self):
        super(CorolinkUnwinder, self).__init__(_NAME)
        self._ptr = None

    def __call__(self, pending):
        sel = _selected
        if sel is None:
            return None
        th = gdb.selected_thread()
        if th is None or th.ptid != sel.ptid:
            return None
        if self._ptr is None:
            self._ptr = gdb.lookup_type("unsigned long")
        ptr = self._ptr
        if pending.level() == 0:
            # the caller of the thread's frame #0: the coroutine's innermost
            # frame (the frame id must use the coroutine's sp)
            pc = pending.read_register(sel.pc_reg)
            info = pending.create_unwind_info(
                _FrameId(gdb.Value(sel.sp).cast(ptr), pc))
            info.add_saved_register(sel.pc_reg, gdb.Value(sel.pc).cast(ptr))
            for name, v in sel.saved:
                info.add_saved_register(name, gdb.Value(v).cast(ptr))
            self._mode(pending, info, sel, 2)
            return info
        # The root frame (corolink__trampoline) of the selected suspended
        # coroutine: its link to a resumer is stale. Claim it, and its
        # caller with the same frame id, so that gdb stops there ("up"
        # cannot reach the stale frames; bt's filter ends one earlier).
        pc = int(pending.read_register(sel.pc_reg))
        if not (sel.tramp_lo <= pc < sel.tramp_hi):
            return None
        # the root frame's frame pointer is &co->link_fp (RISC-V: the
        # record's top, &co->link_sp)
        fp = pending.read_register(sel.fp_reg)
        if int(fp) != sel.co.addr + sel.off_link_fp:
            return None
        top = gdb.Value(sel.co.addr + 16).cast(ptr)
        info = pending.create_unwind_info(
            _FrameId(top, gdb.Value(sel.tramp_lo).cast(ptr)))
        info.add_saved_register(sel.pc_reg,
                                gdb.Value(sel.tramp_ret).cast(ptr))
        info.add_saved_register(sel.sp_reg, top)
        info.add_saved_register(sel.fp_reg, fp)
        self._mode(pending, info, sel, 3)
        return info

    def _mode(self, pending, info, sel, which):
        """ARM32: the frame's cpsr with the T bit of its pc's state (gdb
        asks a frame's cpsr where an address's mapping symbols ($t, $a)
        do not say: a Thumb pc in a frame whose cpsr says ARM is taken for
        ARM code; the tests pass without it, the programs having them)."""
        if not sel.mode:
            return
        reg, bit = sel.mode[0], sel.mode[1]
        v = int(pending.read_register(reg)) & 0xffffffff
        v = (v | bit) if sel.mode[which] else (v & ~bit)
        info.add_saved_register(reg, gdb.Value(v).cast(self._ptr))


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class CorolinkFrameFilter(object):
    """Hides the real frame #0 while a coroutine is selected, ends a
    suspended coroutine's backtrace at its entry function, and decorates
    the linked boundary (corolink__trampoline) of running coroutines."""

    def __init__(self):
        self.name = _NAME
        self.priority = 100
        self.enabled = True
        gdb.frame_filters[self.name] = self

    def filter(self, frame_iter):
        try:
            t = _table(required=False)
        except Exception:
            t = None
        if t is None:
            return frame_iter
        return self._gen(t, frame_iter, _selected)

    def _gen(self, t, frame_iter, sel):
        hide_first = sel is not None and \
            gdb.selected_thread() is not None and \
            gdb.selected_thread().ptid == sel.ptid
        n = 0
        while True:
            try:
                fd = next(frame_iter)
            except StopIteration:
                return
            except gdb.error as e:
                # gdb could not unwind the next frame (e.g. "PC not
                # available"): end the backtrace as gdb does, not with a
                # Python exception
                gdb.write("Backtrace stopped: %s\n" % e)
                return
            n += 1
            if n > _MAX_FRAMES:
                return
            try:
                f = fd.inferior_frame()
                if hide_first and f.level() == 0:
                    continue
                pc = f.pc()
            except gdb.error as e:
                # a frame gdb cannot show (its pc is unavailable: gdb
                # failed to unwind to it): the backtrace ends here
                gdb.write("Backtrace stopped: %s\n" % e)
                return
            if n > 1 and t.in_hidden(pc) and \
                    not (hide_first and n == 2):
                # the library's resume path between a running coroutine
                # and its resumer (timestamps, probes, tools): left out,
                # as if the resume had been the inline one
                continue
            if t.in_trampoline(pc):
                if hide_first:
                    # a suspended coroutine: its link is stale; the
                    # backtrace ends at its entry function
                    return
                yield _BoundaryDecorator(fd, t)
                continue
            try:
                named = fd.function()
            except gdb.error:
                named = None
            # gdb prints a nameless frame that went through a frame filter
            # as "in  ()": say "??" as it does without filters.
            yield fd if isinstance(named, str) and named \
                else _UnknownDecorator(fd)


class _BoundaryDecorator(FrameDecorator):
    def __init__(self, fobj, t):
        super(_BoundaryDecorator, self).__init__(fobj)
        self._t = t

    def function(self):
        try:
            f = self.inferior_frame()
            fp = int(f.read_register(self._t.fp_reg))
            co = _load(self._t, fp - self._t.off_link_fp +
                       self._t.fp_record)
            if co is not None:
                return '[coroutine %d "%s" resumed here]' % (co.id, co.name)
        except Exception:
            pass
        return "[coroutine resumed here]"

    def filename(self):
        return None

    def frame_args(self):
        return None

    def frame_locals(self):
        return None

    def line(self):
        return None

    def address(self):
        return None


class _UnknownDecorator(FrameDecorator):
    """A frame without debug info: its minimal-symbol name (.dynsym) if it
    has one, else "??"."""

    def function(self):
        try:
            name = self.inferior_frame().name()
        except gdb.error:
            name = None
        return name if name else "??"


def _on_cont(*_args):
    if _selected is not None:
        _set_selection(None)


def _on_exit(*_args):
    _on_cont()
    _clear_table_cache()


# ---------------------------------------------------------------------------
# backtraces of coroutines (for info coroutines)

_unwind_memo = {}


def _frame_source(f):
    """(file name, line) of a frame, or (None, None) when gdb has none."""
    try:
        sal = f.find_sal()
    except gdb.error:
        return None, None
    if sal.symtab is None:
        return None, None
    return sal.symtab.filename, sal.line


def _sym_frames(frames_only=True):
    """[(function name, filename, line)] of the selected stack, innermost
    first, as the frame filter would show it (level 0 hidden, ends at the
    entry function of a suspended coroutine)."""
    t = _table()
    out = []
    f = gdb.newest_frame()
    if _selected is not None:
        f = f.older()
    n = 0
    while f is not None and n < _MAX_FRAMES:
        n += 1
        try:
            pc = f.pc()
        except gdb.error:
            break
        if t.in_trampoline(pc):
            if _selected is not None:
                break
            out.append(("corolink__trampoline", None, None))
        else:
            name = f.name()
            if name is None:
                name = "0x%x" % pc
            fn, ln = _frame_source(f)
            out.append((name, fn, ln))
        try:
            f = f.older()
        except gdb.error:
            break
    return out


def _backtrace(t, co):
    """Symbolized frames of a coroutine (memoized for suspended ones by
    their suspend point, entry function, frame offsets and frame-pointer
    chain). A suspended
    coroutine is checked on the way (see _check): a damaged one gets
    co.damage and no frames, and so does a control block held by several
    registry slots (a damaged registry)."""
    if len(co.slots) > 1:
        co.damage = "in %d registry slots (%s%s), listed once" % (
            len(co.slots), ", ".join("0x%x" % a for a in co.slots[:3]),
            ", ..." if len(co.slots) > 3 else "")
        return []
    if co.state == "suspended":
        co.damage = _check_saved(t, co)
        if co.damage:
            return []
        # a saved register matters as an offset from the top of the
        # stack if it points into the coroutine's stack (sp, a frame
        # pointer); otherwise it is some unrelated value
        lo = co.stack_limit - co.guard
        if co.chain is None:
            co.chain = _fp_chain(co, rec=t.fp_record, pair=t.pair)
        key = (co.pc, co.fn, co.chain) + tuple(
            co.addr - v if lo <= v < co.stack_top else None
            for _, v in co.saved)
        r = _unwind_memo.get(key)
        if r is None:
            w = _with_coroutine(co, _coroutine_walk, t)
            if not isinstance(w, tuple):
                return w    # gdb failed: an "<error: ...>" frame
            frames, sps, pcs, tail = w
            co.damage = _check_chain(co, sps, pcs, tail)
            if co.damage:
                return []
            # only clean walks are shared: coroutines with the same key
            # have the same frames at the same offsets from their tops
            r = frames
            _unwind_memo[key] = r
        return r
    if co.state == "running" and co.thread is not None:
        return _with_thread_frame(co, _sym_frames, t)
    return []


# ---------------------------------------------------------------------------
# checking what was read (a damaged control block or stack)
#
# One helper decides whether a coroutine can be shown: _backtrace() runs
# _check_saved() and _check_chain() on every suspended coroutine it
# unwinds; every command prints _diag(co) for a coroutine with co.damage
# (instead of its frames) or held by several registry slots.

_code_cache = {}
_SECTION_LINE = re.compile(r"^\s*\[\s*\d+\]\s+0x([0-9a-f]+)->0x([0-9a-f]+) at "
                           r"0x[0-9a-f]+: \S+(.*)$", re.M)
_INFO_FILES_LINE = re.compile(r"^\s*0x([0-9a-f]+) - 0x([0-9a-f]+) is (\S+)",
                              re.M)
_CODE_NAMES = (".init", ".fini", ".plt", ".plt.got", ".plt.sec", ".iplt")


def _code_ranges():
    """Sorted, merged (starts, ends) of where code is: the CODE sections of
    every objfile gdb loaded (the program, its shared libraries, the vDSO)
    and, on a core file, the core's executable segments; None if gdb says
    nothing (then pcs are not checked). Cached like the table."""
    inf = gdb.selected_inferior()
    key = (inf.num, inf.pid, _has_core())
    if key in _code_cache:
        return _code_cache[key]
    ranges = []
    for cmd in ("maint info sections -all-objects", "maint info sections"):
        try:
            text = gdb.execute(cmd, to_string=True)
        except gdb.error:
            continue
        for m in _SECTION_LINE.finditer(text):
            if " CODE" in m.group(3):
                ranges.append((int(m.group(1), 16), int(m.group(2), 16)))
    if not ranges:
        # no maintenance command: the code sections by name
        try:
            text = gdb.execute("info files", to_string=True)
        except gdb.error:
            text = ""
        for m in _INFO_FILES_LINE.finditer(text):
            if m.group(3).startswith(".text") or m.group(3) in _CODE_NAMES:
                ranges.append((int(m.group(1), 16), int(m.group(2), 16)))
    r = None
    if ranges:
        ranges.sort()
        merged = [list(ranges[0])]
        for lo, hi in ranges[1:]:
            if lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        r = ([a for a, _ in merged], [b for _, b in merged])
    _code_cache[key] = r
    return r


def _in_code(pc):
    r = _code_ranges()
    if r is None:
        return True
    i = bisect.bisect_right(r[0], pc)
    return i > 0 and pc < r[1][i - 1]


def _check_saved(t, co):
    """What is wrong with a suspended coroutine's saved registers, or
    None."""
    lo, hi = co.stack_limit, co.addr
    if not (lo < hi and hi - lo <= 1 << 34):
        return "stack limit 0x%x is not below its control block" % lo
    if not _in_code(co.pc):
        return "saved pc 0x%x is outside every code section" % co.pc
    if lo - co.guard <= co.sp < lo:
        # suspended in its guard region: possible in a watched zone, which
        # nothing protects (src/slab.c)
        return ("saved sp 0x%x is outside its stack [0x%x, 0x%x): a stack "
                "overflow, %d bytes into the %d-byte guard region below it"
                % (co.sp, lo, hi, lo - co.sp, co.guard))
    if not lo <= co.sp < hi:
        return "saved sp 0x%x is outside its stack [0x%x, 0x%x)" % (co.sp, lo,
                                                                  hi)
    return None


def _check_chain(co, sps, pcs, tail):
    """What is wrong with a suspended coroutine's frames, or None. sps, pcs:
    sp (None: inlined) and pc of its frames, innermost (#1) first; tail:
    the root frame's sp, or where the chain would go on when gdb stopped
    before the root.
    Frames must stay in the stack [stack_limit, control block) (the root's
    sp is its top) and move strictly up, with pcs in code."""
    lo, hi = co.stack_limit, co.addr
    n = len(sps)
    prev = None
    for k, sp in enumerate(list(sps) + list(tail)):
        if sp is None:      # an inlined frame
            pass
        elif sp < lo or sp > hi or (sp == hi and k < n):
            return ("the frame chain leaves its stack [0x%x, 0x%x) at sp 0x%x"
                    % (lo, hi, sp))
        elif prev is not None and sp == prev:
            return "the frame chain loops at sp 0x%x" % sp
        elif prev is not None and sp < prev:
            return ("the frame chain goes down from sp 0x%x to 0x%x"
                    % (prev, sp))
        else:
            prev = sp
        if k < n and not _in_code(pcs[k]):
            return ("frame #%d has pc 0x%x, outside every code section"
                    % (k + 1, pcs[k]))
    return None


_FRAME_AT = re.compile(r"frame at 0x([0-9a-f]+)")


def _frame_cfa(f):
    """A frame's CFA (where its caller's sp is), from `info frame`."""
    try:
        f.select()
        m = _FRAME_AT.search(gdb.execute("info frame", to_string=True))
        return int(m.group(1), 16) if m else None
    except gdb.error:
        return None


def _coroutine_walk():
    """The selected suspended coroutine's frames, as _sym_frames gives
    them, with what _check_chain needs: (frames, sps, pcs, tail)."""
    t = _table()
    frames, sps, pcs = [], [], []
    last = None
    try:
        f = gdb.newest_frame().older()
        while f is not None and len(frames) < _MAX_FRAMES:
            pc = f.pc()
            sp = int(f.read_register(t.sp_reg))
            if t.in_trampoline(pc):
                return frames, sps, pcs, [sp]
            name = f.name() or "0x%x" % pc
            fn, ln = _frame_source(f)
            frames.append((name, fn, ln))
            # an inlined function's frame shares its caller's sp
            sps.append(None if f.type() == gdb.INLINE_FRAME else sp)
            pcs.append(pc)
            last = f
            f = f.older()
    except gdb.error:
        pass
    # gdb stopped before the root: where its caller's frame would be (the
    # same frame id twice: a loop at that sp)
    tail = []
    if last is not None and len(frames) < _MAX_FRAMES:
        cfa = _frame_cfa(last)
        try:
            same = last.is_valid() and \
                last.unwind_stop_reason() == gdb.FRAME_UNWIND_SAME_ID
        except gdb.error:
            same = False
        if cfa is not None:
            tail = [cfa, cfa] if same else [cfa]
    return frames, sps, pcs, tail


def _diag(co):
    """The one line about a coroutine with a problem, or None."""
    if not co.damage:
        return None
    name = ' "%s"' % co.name if co.name_ok and co.name else ""
    return "corolink: coroutine %d%s (control block 0x%x): %s" % (
        co.id, name, co.addr, co.damage)


def _with_coroutine(co, fn, t):
    """Runs fn() with the suspended coroutine `co` selected."""
    saved = _selected
    th = gdb.selected_thread()
    if th is None:
        raise CorolinkError("corolink: no thread to show a coroutine on")
    _set_selection(_Selection(t, co, th.ptid))
    try:
        return fn()
    except gdb.error as e:
        return [("<error: %s>" % e, None, None)]
    finally:
        _set_selection(saved)


def _with_thread_frame(co, fn, t):
    """Runs fn() on the thread running `co`, from co's innermost frame."""
    cur = gdb.selected_thread()
    saved = _selected
    try:
        if saved is not None:
            _set_selection(None)
        co.thread.switch()
        frames = fn()
    except gdb.error as e:
        frames = [("<error: %s>" % e, None, None)]
    finally:
        if cur is not None and cur.is_valid():
            cur.switch()
        if saved is not None:
            _set_selection(saved)
    # skip the frames that belong to coroutines nested inside co: they
    # precede co's own frames; the boundary of each nested coroutine shows
    # as corolink__trampoline
    if co.nest:
        depth = 0
        for i, (name, _, _) in enumerate(frames):
            if name == "corolink__trampoline":
                depth += 1
                if depth == co.nest:
                    frames = frames[i + 1:]
                    break
    return frames


def _symbol(addr):
    try:
        b = gdb.block_for_pc(addr)
        while b is not None and b.function is None:
            b = b.superblock
        if b is not None and b.function is not None:
            return b.function.print_name
    except (gdb.error, RuntimeError):
        pass
    try:
        s = gdb.execute("info symbol 0x%x" % addr, to_string=True)
        if not s.startswith("No symbol"):
            return s.split(" in section")[0].split(" + ")[0].strip()
    except gdb.error:
        pass
    return "0x%x" % addr


def _where(t, co, bt):
    """The innermost frame not in corolink."""
    for name, fn, ln in bt:
        # (gdb shows some of the library's symbols with a dot for the
        # double underscore: corolink.enter, corolink.trampoline)
        if name.startswith("corolink_") or name.startswith("corolink."):
            continue
        if fn:
            return "%s (%s:%d)" % (name, fn.rsplit("/", 1)[-1], ln)
        return name
    return "-"


def _age(co, newest):
    if not co.suspend_ns or co.state != "suspended":
        return ""
    inf = gdb.selected_inferior()
    try:
        native = inf.connection is not None and \
            inf.connection.type == "native" and inf.pid != 0
    except Exception:
        native = False
    if native:
        d = time.monotonic_ns() - co.suspend_ns
        return "%s ago" % _fmt_ns(d)
    return "%s before newest" % _fmt_ns(newest - co.suspend_ns)


def _fmt_ns(d):
    if d < 0:
        return "-" + _fmt_ns(-d)
    if d < 1000000:
        return "%dus" % (d // 1000)
    if d < 1000000000:
        return "%.1fms" % (d / 1e6)
    return "%.3fs" % (d / 1e9)


# ---------------------------------------------------------------------------
# commands

def _parse_ids(words):
    """Leading ID / ID-ID words -> (set of ids, rest of words)."""
    ids = []
    i = 0
    while i < len(words):
        m = re.match(r"^(\d+)(?:-(\d+))?$", words[i])
        if not m:
            break
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if b < a or b - a > 1000000:
            raise CorolinkError("corolink: bad id range %s" % words[i])
        ids.extend(range(a, b + 1))
        i += 1
    return ids, words[i:]


class InfoCoroutines(gdb.Command):
    """List corolink coroutines.
Usage: info coroutines [-state STATE] [-name REGEX] [-bt REGEX] [-group] [ID...]

One line per coroutine: a `*' for the current one (the selected coroutine,
or the innermost coroutine running on the selected thread), id, state,
name, gdb thread (running ones), entry function, the innermost frame
outside corolink (suspended ones) and how long it has been suspended (when
timestamps are on: corolink_debug_timestamps() or COROLINK_TIMESTAMPS=1).
-state: created, running, suspended or finished.  -name: regex on the name.
-bt: regex on the function names of the backtrace.  -group: one line per
distinct stack, with a count."""

    def __init__(self):
        super(InfoCoroutines, self).__init__("info coroutines",
                                             gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        # A million Coroutine objects: Python's cyclic collector would
        # rescan them all again and again while they are made (none of
        # them is part of a cycle).
        gc_was = gc.isenabled()
        gc.disable()
        try:
            self._invoke(arg)
        except CorolinkError:
            raise
        except gdb.GdbError:
            raise
        except (gdb.error, gdb.MemoryError) as e:
            raise CorolinkError("corolink: %s" % e)
        finally:
            if gc_was:
                gc.enable()

    def _invoke(self, arg):
        words = gdb.string_to_argv(arg)
        state = name_re = bt_re = None
        group = False
        rest = []
        i = 0
        while i < len(words):
            w = words[i]
            if w in ("-state", "-name", "-bt"):
                if i + 1 >= len(words):
                    raise CorolinkError("corolink: %s needs an argument" % w)
                v = words[i + 1]
                i += 2
                try:
                    if w == "-state":
                        if v not in STATES:
                            raise CorolinkError(
                                "corolink: unknown state %r (one of %s)"
                                % (v, ", ".join(STATES)))
                        state = v
                    elif w == "-name":
                        name_re = re.compile(v)
                    else:
                        bt_re = re.compile(v)
                except re.error as e:
                    raise CorolinkError("corolink: bad regex %r: %s" % (v, e))
                continue
            if w == "-group":
                group = True
                i += 1
                continue
            if w == "--":
                rest.extend(words[i + 1:])
                break
            if w.startswith("-"):
                raise CorolinkError("corolink: unknown option %s" % w)
            rest.append(w)
            i += 1
        ids, extra = _parse_ids(rest)
        if extra:
            raise CorolinkError("corolink: bad argument %r" % extra[0])
        t = _table()
        t0 = time.monotonic()
        cos = coroutines(t, t0)
        if ids:
            want = set(ids)
            missing = want - set(c.id for c in cos)
            if missing:
                raise CorolinkError("corolink: no coroutine with id %s"
                                    % ", ".join(str(m) for m in
                                                sorted(missing)))
            cos = [c for c in cos if c.id in want]
        if state:
            cos = [c for c in cos if c.state == state]
        if name_re:
            cos = [c for c in cos if name_re.search(c.name)]
        bts = {}
        progress = _Progress("unwound", len(cos), t0)
        for i, c in enumerate(cos):
            progress.tick(i)
            if c.state in ("suspended", "running"):
                bts[c.addr] = _backtrace(t, c)
        if bt_re:
            cos = [c for c in cos
                   if any(bt_re.search(n) for n, _, _ in bts.get(c.addr, []))]
        if not cos:
            gdb.write("No coroutines.\n")
            return
        cur = _current_addr(cos)
        newest = max([c.suspend_ns for c in cos] + [0])
        fnames = {}

        def entry(c):
            if c.fn not in fnames:
                fnames[c.fn] = _symbol(c.fn)
            return fnames[c.fn]

        if group:
            self._group(t, cos, bts, entry)
        else:
            rows = [("", "Id", "State", "Name", "Thread", "Entry", "Where",
                     "Suspended")]
            for c in cos:
                st = c.state
                if c.state == "running" and not c.innermost and \
                        c.thread is not None:
                    st = "running (resuming another)"
                elif c.state == "finished":
                    st = "finished (%s)" % c.finished_how()
                where = _where(t, c, bts[c.addr]) \
                    if c.state == "suspended" else ""
                if c.damage:
                    where = "<damaged>"
                rows.append(("*" if c.addr == cur else "", str(c.id), st,
                             '"%s"' % c.name,
                             str(c.thread.num) if c.thread else "",
                             entry(c), where, _age(c, newest)))
            _table_print(rows)
        # one line for each coroutine with a problem (the damaged ones have
        # no frames)
        for c in cos:
            d = _diag(c)
            if d:
                gdb.write(d + "\n")
        dt = time.monotonic() - t0
        if len(cos) >= 10000:
            gdb.write("(%d coroutines in %.2fs)\n" % (len(cos), dt))

    def _group(self, t, cos, bts, entry):
        groups = {}
        order = []
        for c in cos:
            if c.damage:
                continue    # not grouped: its line follows the table
            key = (c.state if c.state != "finished" else "finished",
                   c.fn,
                   tuple(n for n, _, _ in bts.get(c.addr, [])))
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(c)
        rows = [("Count", "State", "Entry", "Where", "Ids")]
        for key in order:
            lst = groups[key]
            c = lst[0]
            ids = [x.id for x in lst]
            if len(ids) > 6:
                idtxt = "%s ... %s" % (" ".join(str(i) for i in ids[:3]),
                                       ids[-1])
            else:
                idtxt = " ".join(str(i) for i in ids)
            where = _where(t, c, bts.get(c.addr, [])) \
                if c.state in ("suspended", "running") else ""
            rows.append((str(len(lst)), c.state, entry(c), where, idtxt))
        _table_print(rows)
        for key in order:
            lst = groups[key]
            if len(lst) > 1 and key[2]:
                gdb.write("\n%d coroutines (%s) with stack:\n"
                          % (len(lst), lst[0].state))
                for n, fn, ln in bts.get(lst[0].addr, []):
                    if fn:
                        gdb.write("  %s (%s:%d)\n"
                                  % (n, fn.rsplit("/", 1)[-1], ln))
                    else:
                        gdb.write("  %s\n" % n)


def _current_addr(cos):
    if _selected is not None:
        return _selected.co.addr
    th = gdb.selected_thread()
    for c in cos:
        if c.innermost and c.thread is not None and th is not None and \
                c.thread.ptid == th.ptid:
            return c.addr
    return None


def _table_print(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        line = "  ".join(r[i].ljust(widths[i]) for i in range(len(r)))
        gdb.write(line.rstrip() + "\n")


class CoroutineCommand(gdb.Command):
    """Select a corolink coroutine's stack.
Usage: coroutine [ID]

`coroutine ID' shows coroutine ID's stack: `bt', `frame N', `up', `down',
`info locals' and `print' work in it (its innermost frame is #1: frame #0,
the thread's own, is hidden). A suspended coroutine's backtrace ends at its
entry function (what lies beyond its root frame is stale).  For a running
coroutine this selects the thread running it and its innermost frame.
`coroutine' alone returns to the thread's own stack.  Continuing the
program also does."""

    def __init__(self):
        super(CoroutineCommand, self).__init__("coroutine", gdb.COMMAND_STACK,
                                               gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        try:
            self._invoke(arg, from_tty)
        except gdb.GdbError:
            raise
        except (gdb.error, gdb.MemoryError) as e:
            raise CorolinkError("corolink: %s" % e)

    def _invoke(self, arg, from_tty):
        words = gdb.string_to_argv(arg)
        if not words:
            if _selected is not None:
                _set_selection(None)
                gdb.execute("frame 0")
            else:
                gdb.write("No coroutine selected; showing the thread's "
                          "stack.\n")
            return
        if len(words) != 1 or not re.match(r"^\d+$", words[0]):
            raise CorolinkError("corolink: usage: coroutine [ID] | "
                                "coroutine apply all|ID... COMMAND")
        t = _table()
        co = _find(t, int(words[0]))
        _select(t, co)
        d = _diag(co)
        if d:
            gdb.write(d + "\n")
        gdb.execute("frame")


def _select(t, co, quiet=False):
    """Shows co's stack; raises for a coroutine with no stack, or a damaged
    one (_diag's line)."""
    if co.state == "suspended":
        _backtrace(t, co)
        if co.damage:
            raise CorolinkError(_diag(co))
        th = gdb.selected_thread()
        if th is None:
            raise CorolinkError("corolink: no thread")
        _set_selection(_Selection(t, co, th.ptid))
        try:
            f = gdb.newest_frame().older()
            if f is None:
                raise CorolinkError("corolink: cannot unwind coroutine %d"
                                    % co.id)
            f.select()
        except gdb.error as e:
            _set_selection(None)
            raise CorolinkError("corolink: cannot unwind coroutine %d: %s"
                                % (co.id, e))
        return
    if co.state == "running":
        if co.thread is None:
            raise CorolinkError(
                "corolink: coroutine %d is running but no thread's stack "
                "holds it" % co.id)
        _set_selection(None)
        co.thread.switch()
        # its innermost frame: the first one on its stack
        f = gdb.newest_frame()
        n = 0
        while f is not None and n < _MAX_FRAMES:
            n += 1
            try:
                if co.contains(int(f.read_register(t.sp_reg))):
                    f.select()
                    return
                f = f.older()
            except gdb.error:
                break
        return
    if co.state == "created":
        raise CorolinkError("corolink: coroutine %d has not started: no "
                            "stack to show" % co.id)
    raise CorolinkError("corolink: coroutine %d has finished (%s): no stack "
                        "to show" % (co.id, co.finished_how()))


class CoroutineApply(gdb.Command):
    """Run a command on each coroutine's stack.
Usage: coroutine apply all|ID... [-q] COMMAND

Like `thread apply': selects each coroutine in turn (see `coroutine ID'),
prints a header line and runs COMMAND, e.g. `coroutine apply all bt'.
`all' takes the running and suspended coroutines; ID ranges (3-7) work.
-q: no header lines."""

    def __init__(self):
        super(CoroutineApply, self).__init__("coroutine apply",
                                             gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            self._invoke(arg)
        except gdb.GdbError:
            raise
        except (gdb.error, gdb.MemoryError) as e:
            raise CorolinkError("corolink: %s" % e)

    def _invoke(self, arg):
        m = re.match(r"^\s*(\S+)", arg)
        if not m:
            raise CorolinkError("corolink: usage: coroutine apply all|ID... "
                                "COMMAND")
        t = _table()
        cos = coroutines(t)
        words = arg.split()
        if words[0] == "all":
            targets = [c for c in cos if c.state in ("running", "suspended")]
            rest = arg.split(None, 1)[1] if len(words) > 1 else ""
        else:
            ids, _ = _parse_ids(words)
            if not ids:
                raise CorolinkError("corolink: usage: coroutine apply "
                                    "all|ID... COMMAND")
            targets = [_find(t, i, cos) for i in ids]
            # the command: what follows the id words
            rest = arg
            while True:
                parts = rest.split(None, 1)
                if parts and re.match(r"^\d+(-\d+)?$", parts[0]):
                    rest = parts[1] if len(parts) > 1 else ""
                else:
                    break
        quiet = False
        parts = rest.split(None, 1)
        if parts and parts[0] == "-q":
            quiet = True
            rest = parts[1] if len(parts) > 1 else ""
        if not rest.strip():
            raise CorolinkError("corolink: coroutine apply: no command")
        saved_sel = _selected
        saved_thread = gdb.selected_thread()
        try:
            saved_frame_level = gdb.selected_frame().level()
        except gdb.error:
            saved_frame_level = None
        try:
            for c in targets:
                if not quiet:
                    extra = ""
                    if c.state == "running" and c.thread is not None:
                        extra = ", thread %d" % c.thread.num
                    gdb.write('\nCoroutine %d "%s" (%s%s):\n'
                              % (c.id, c.name, c.state, extra))
                try:
                    _select(t, c, quiet=True)
                except CorolinkError as e:
                    gdb.write("%s\n" % e)
                    continue
                d = _diag(c)
                if d:
                    gdb.write(d + "\n")
                try:
                    gdb.execute(rest, from_tty=False)
                except gdb.error as e:
                    gdb.write("%s\n" % e)
        finally:
            _set_selection(saved_sel)
            if saved_thread is not None and saved_thread.is_valid():
                saved_thread.switch()
            if saved_sel is not None:
                try:
                    gdb.newest_frame().older().select()
                except Exception:
                    pass
            elif saved_frame_level is not None:
                try:
                    f = gdb.newest_frame()
                    for _ in range(saved_frame_level):
                        f = f.older()
                    f.select()
                except Exception:
                    pass


# ---------------------------------------------------------------------------
# pretty-printers

class CorolinkPrinter(object):
    def __init__(self, addr, kind):
        self.addr = addr
        self.kind = kind

    def to_string(self):
        if self.addr == 0:
            return "0x0"
        try:
            t = _table()
            co = _load(t, self.addr)
        except (CorolinkError, gdb.error) as e:
            return "0x%x <%s>" % (self.addr, e)
        if co is None:
            return "0x%x <not a corolink control block>" % self.addr
        st = co.state
        if co.state == "finished":
            st = "finished (%s)" % co.finished_how()
        lo = co.stack_limit
        size = co.addr - lo
        s = '0x%x {id = %d, name = "%s", state = %s, stack = [0x%x, 0x%x)' % (
            co.addr, co.id, co.name, st, lo, co.addr)
        if co.state == "suspended" and co.contains(co.sp):
            s += ", used %d of %d" % (co.addr - co.sp, size)
        else:
            s += ", size %d" % size
        return s + "}"


def _lookup_printer(val):
    try:
        tp = val.type.strip_typedefs()
        if tp.code == gdb.TYPE_CODE_PTR:
            tgt = tp.target().strip_typedefs().unqualified()
            if tgt.code == gdb.TYPE_CODE_STRUCT and \
                    tgt.tag in ("corolink", "corolink_yielder"):
                return CorolinkPrinter(int(val), tgt.tag)
        elif tp.code == gdb.TYPE_CODE_STRUCT and tp.tag == "corolink":
            addr = val.address
            if addr is not None:
                return CorolinkPrinter(int(addr), "corolink")
    except (gdb.error, RuntimeError):
        pass
    return None


_lookup_printer.name = _NAME
_lookup_printer.enabled = True


# ---------------------------------------------------------------------------
# registration (idempotent: the script may be sourced and auto-loaded)

def _register():
    old = getattr(gdb, "_corolink_plugin_state", None)
    if old is not None:
        for ev, fn in old.get("events", []):
            try:
                ev.disconnect(fn)
            except Exception:
                pass
        try:
            gdb.pretty_printers.remove(old["printer"])
        except (ValueError, KeyError):
            pass
    gdb.unwinder.register_unwinder(None, CorolinkUnwinder(), replace=True)
    CorolinkFrameFilter()
    gdb.pretty_printers.append(_lookup_printer)
    events = [(gdb.events.cont, _on_cont), (gdb.events.exited, _on_exit),
              (gdb.events.new_objfile, _clear_table_cache),
              (gdb.events.clear_objfiles, _on_exit)]
    for ev, fn in events:
        ev.connect(fn)
    gdb._corolink_plugin_state = {"events": events,
                                  "printer": _lookup_printer}
    InfoCoroutines()
    CoroutineCommand()
    CoroutineApply()


_register()
