/*
 * check_cfi_aarch64_aapcs_elf.c - check-cfi's AArch64 target: a call
 * (`bl`, `blr`, `blraa`...) leaves the return address pc + 4 in x30 and sp
 * unchanged, so the caller's expected frame is {pc + 4, sp, x29 at the
 * call}; a return (`ret`, `retaa`, `retab`) goes to x30 with sp back where
 * it was at the call. x29 is the frame pointer.
 */
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "check_cfi.h"

static uint32_t word(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static enum insn_kind decode(const uint8_t *b) {
    uint32_t i = word(b);
    if ((i & 0xfc000000u) == 0x94000000u) /* bl imm26 */
        return INSN_CALL;
    if ((i & 0xfffffc1fu) == 0xd63f0000u) /* blr xN */
        return INSN_CALL;
    if ((i & 0xfefff800u) == 0xd63f0800u) /* blraa(z)/blrab(z) */
        return INSN_CALL;
    if ((i & 0xfffffc1fu) == 0xd65f0000u) /* ret xN */
        return INSN_RET;
    if (i == 0xd65f0bffu || i == 0xd65f0fffu) /* retaa, retab */
        return INSN_RET;
    return INSN_OTHER;
}

static bool call_record(const struct regs *old, const struct regs *now,
                        bool (*read_word)(uint64_t, uint64_t *),
                        struct rec *out) {
    (void)read_word;
    if (now->lr != old->pc + 4 || now->sp != old->sp)
        return false;
    *out = (struct rec){old->sp, old->pc + 4, old->fp};
    return true;
}

static bool ret_pops(const struct rec *r, const struct regs *old,
                     const struct regs *now) {
    (void)old;
    return r->ra == now->pc && r->cfa == now->sp;
}

/* qemu's AArch64 'g' packet: x0..x30, sp, pc (8 bytes each), cpsr (4).
 * DWARF numbers x0..x30 = 0..30, sp = 31; the pc has none. */
static bool from_g(const uint64_t *w, size_t nwords, size_t nbytes,
                   uint64_t *dwarf, int *ndwarf, struct regs *r) {
    (void)nbytes;
    if (nwords < 33)
        return false;
    for (int i = 0; i < 32; i++)
        dwarf[i] = w[i];
    *ndwarf = 32;
    *r = (struct regs){.pc = w[32], .sp = w[31], .fp = w[29], .lr = w[30]};
    return true;
}

/* A signed return address (paciasp/pacibsp) carries its authentication
 * code in the bits above the 48-bit user address space (bit 55 clear: a
 * user address). */
static uint64_t strip_pac(uint64_t w) {
    if (w & (UINT64_C(1) << 55))
        return w;
    return w & ((UINT64_C(1) << 48) - 1);
}

/* ---- the return address's sign state in the rows ----
 *
 * DW_CFA_AARCH64_negate_ra_state flips "the return address is signed" for
 * the rows that follow; .cfi_remember_state/.cfi_restore_state save and
 * restore it with the rest of the row. libdw 0.188 ignores it, so it is
 * followed here: each module's .eh_frame is read once (dwarf_next_cfi),
 * and the state at an address is found by running its CIE's and FDE's
 * instructions up to it, decoding every other instruction only to skip
 * it. */

struct fde {
    uint64_t lo, hi;                    /* [lo, hi), module addresses */
    const uint8_t *ins, *end;           /* the FDE's instructions */
    const uint8_t *cie_ins, *cie_end;   /* its CIE's */
    uint64_t caf;                       /* code alignment factor */
    uint8_t enc;                        /* pointer encoding (for set_loc) */
    uint64_t data_addr;                 /* .eh_frame's address */
    const uint8_t *data;                /* its bytes */
};

struct module_cfi {
    Dwfl_Module *mod;
    struct fde *f;
    size_t n;
};

static struct module_cfi mcfi[32];
static int nmcfi;

static uint64_t uleb(const uint8_t **p, const uint8_t *end) {
    uint64_t v = 0;
    unsigned shift = 0;
    while (*p < end) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            break;
    }
    return v;
}

static uint64_t read_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* An encoded pointer (DW_EH_PE_*) at *p, whose own address is `at`. */
static bool read_enc(const uint8_t **p, const uint8_t *end, uint8_t enc,
                     uint64_t at, uint64_t *out) {
    int n;
    bool sign = false;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: n = 8; break;
    case DW_EH_PE_udata2: n = 2; break;
    case DW_EH_PE_udata4: n = 4; break;
    case DW_EH_PE_udata8: n = 8; break;
    case DW_EH_PE_sdata2: n = 2; sign = true; break;
    case DW_EH_PE_sdata4: n = 4; sign = true; break;
    case DW_EH_PE_sdata8: n = 8; sign = true; break;
    default: return false;
    }
    if (end - *p < n)
        return false;
    uint64_t v = read_le(*p, n);
    if (sign && n < 8 && (v >> (8 * n - 1)) & 1)
        v |= ~UINT64_C(0) << (8 * n);
    *p += n;
    if ((enc & 0x70) == DW_EH_PE_pcrel)
        v += at;
    else if ((enc & 0x70) != 0)
        return false;
    *out = v;
    return true;
}

/* The pointer encoding an FDE of this CIE uses ('R' in "z..."). */
static uint8_t cie_encoding(const Dwarf_CIE *c) {
    const char *a = c->augmentation;
    if (a[0] != 'z' || c->augmentation_data == NULL)
        return DW_EH_PE_absptr;
    const uint8_t *d = c->augmentation_data;
    const uint8_t *end = d + c->augmentation_data_size;
    for (a++; *a && d < end; a++) {
        if (*a == 'R')
            return *d;
        if (*a == 'L')
            d++;
        else if (*a == 'P') {
            uint8_t e = *d++;
            uint64_t ignored;
            if (!read_enc(&d, end, e & 0x0f, 0, &ignored))
                break;
        }
    }
    return DW_EH_PE_absptr;
}

static struct module_cfi *load(Dwfl_Module *mod) {
    for (int i = 0; i < nmcfi; i++)
        if (mcfi[i].mod == mod)
            return &mcfi[i];
    if (nmcfi == 32)
        return NULL;
    struct module_cfi *m = &mcfi[nmcfi++];
    *m = (struct module_cfi){mod, NULL, 0};
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t shstrndx;
    if (elf == NULL || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return m;
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        const char *name;
        if (gelf_getshdr(scn, &sh) != NULL &&
            (name = elf_strptr(elf, shstrndx, sh.sh_name)) != NULL &&
            strcmp(name, ".eh_frame") == 0 && sh.sh_type == SHT_PROGBITS)
            break;
    }
    Elf_Data *data = scn != NULL ? elf_getdata(scn, NULL) : NULL;
    if (data == NULL)
        return m;
    const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
    size_t cap = 0;
    for (Dwarf_Off off = 0, next;; off = next) {
        Dwarf_CFI_Entry e;
        if (dwarf_next_cfi(ident, data, true, off, &next, &e) != 0)
            break;
        if (e.CIE_id == (Dwarf_Off)LIBDW_CIE_ID)
            continue;
        Dwarf_Off cnext;
        Dwarf_CFI_Entry c;
        if (dwarf_next_cfi(ident, data, true, e.fde.CIE_pointer, &cnext, &c) != 0 ||
            c.CIE_id != (Dwarf_Off)LIBDW_CIE_ID)
            continue;
        struct fde f;
        f.enc = cie_encoding(&c.cie);
        f.caf = c.cie.code_alignment_factor;
        f.cie_ins = c.cie.initial_instructions;
        f.cie_end = c.cie.initial_instructions_end;
        f.data = data->d_buf;
        f.data_addr = sh.sh_addr;
        const uint8_t *p = e.fde.start;
        uint64_t range;
        if (!read_enc(&p, e.fde.end, f.enc,
                      sh.sh_addr + (uint64_t)(p - (const uint8_t *)data->d_buf),
                      &f.lo) ||
            !read_enc(&p, e.fde.end, f.enc & 0x0f, 0, &range))
            continue;
        f.hi = f.lo + range;
        if (c.cie.augmentation[0] == 'z')
            p += uleb(&p, e.fde.end);
        f.ins = p;
        f.end = e.fde.end;
        if (m->n == cap) {
            cap = cap ? 2 * cap : 64;
            m->f = realloc(m->f, cap * sizeof *m->f);
            if (m->f == NULL)
                die("out of memory");
        }
        m->f[m->n++] = f;
    }
    return m;
}

/* Runs instructions [p, end) from location *loc, stopping before the first
 * advance past `at`. *signed_ra and the remembered states follow. Returns
 * false on an instruction it does not know (or a stop before `at`). */
static bool run(const struct fde *f, const uint8_t *p, const uint8_t *end,
                uint64_t at, uint64_t *loc, int *signed_ra, int *stack,
                int *depth, bool *stopped) {
    while (p < end && !*stopped) {
        uint8_t op = *p++;
        uint64_t delta = 0;
        bool advance = false;
        switch (op & 0xc0) {
        case DW_CFA_advance_loc:
            delta = op & 0x3f;
            advance = true;
            break;
        case DW_CFA_offset:
            uleb(&p, end);
            continue;
        case DW_CFA_restore:
            continue;
        }
        if (!advance) {
            switch (op) {
            case DW_CFA_nop:
                break;
            case DW_CFA_set_loc: {
                uint64_t nl;
                uint64_t here = f->data_addr + (uint64_t)(p - f->data);
                if (!read_enc(&p, end, f->enc, here, &nl))
                    return false;
                if (nl > at)
                    *stopped = true;
                else
                    *loc = nl;
                continue;
            }
            case DW_CFA_advance_loc1:
                delta = p < end ? *p++ : 0;
                advance = true;
                break;
            case DW_CFA_advance_loc2:
                if (end - p < 2)
                    return false;
                delta = read_le(p, 2);
                p += 2;
                advance = true;
                break;
            case DW_CFA_advance_loc4:
                if (end - p < 4)
                    return false;
                delta = read_le(p, 4);
                p += 4;
                advance = true;
                break;
            case DW_CFA_offset_extended:
            case DW_CFA_register:
            case DW_CFA_def_cfa:
            case DW_CFA_val_offset:
            case DW_CFA_offset_extended_sf:
            case DW_CFA_def_cfa_sf:
            case DW_CFA_val_offset_sf:
            case DW_CFA_GNU_negative_offset_extended:
                uleb(&p, end);
                uleb(&p, end); /* an SLEB128 skips the same way */
                break;
            case DW_CFA_restore_extended:
            case DW_CFA_undefined:
            case DW_CFA_same_value:
            case DW_CFA_def_cfa_register:
            case DW_CFA_def_cfa_offset:
            case DW_CFA_def_cfa_offset_sf:
            case DW_CFA_GNU_args_size:
                uleb(&p, end);
                break;
            case DW_CFA_def_cfa_expression: {
                uint64_t len = uleb(&p, end);
                p += len;
                break;
            }
            case DW_CFA_expression:
            case DW_CFA_val_expression: {
                uleb(&p, end);
                uint64_t len = uleb(&p, end);
                p += len;
                break;
            }
            case DW_CFA_remember_state:
                if (*depth == 16)
                    return false;
                stack[(*depth)++] = *signed_ra;
                break;
            case DW_CFA_restore_state:
                if (*depth == 0)
                    return false;
                *signed_ra = stack[--(*depth)];
                break;
            case DW_CFA_AARCH64_negate_ra_state:
                *signed_ra = !*signed_ra;
                break;
            default:
                return false;
            }
        }
        if (advance) {
            uint64_t nl = *loc + delta * f->caf;
            if (nl > at)
                *stopped = true;
            else
                *loc = nl;
        }
    }
    return true;
}

static int ra_signed(Dwfl_Module *mod, uint64_t addr) {
    struct module_cfi *m = load(mod);
    if (m == NULL)
        return -1;
    Dwarf_Addr bias = 0;
    if (dwfl_module_getelf(mod, &bias) == NULL)
        return -1;
    uint64_t a = addr - bias;
    for (size_t i = 0; i < m->n; i++) {
        const struct fde *f = &m->f[i];
        if (a < f->lo || a >= f->hi)
            continue;
        int state = 0, stack[16], depth = 0;
        uint64_t loc = f->lo;
        bool stopped = false;
        if (!run(f, f->cie_ins, f->cie_end, a, &loc, &state, stack, &depth,
                 &stopped))
            return -1;
        loc = f->lo;
        stopped = false;
        if (!run(f, f->ins, f->end, a, &loc, &state, stack, &depth, &stopped))
            return -1;
        return state;
    }
    return -1;
}

const struct target target_aarch64_aapcs_elf = {
    .name = "aarch64_aapcs_elf",
    .machine = EM_AARCH64,
    .dwarf_sp = 31,
    .dwarf_ra = 30,
    .dwarf_fp = 29,
    .sp_name = "sp",
    .fp_name = "x29",
    .insn_bytes = 4,
    .guard_insn = "brk",
    .ra_slot = 0,
    .decode = decode,
    .call_record = call_record,
    .ret_pops = ret_pops,
    .from_g = from_g,
    .bp_kind = 4,
    .strip_pac = strip_pac,
    .ra_signed = ra_signed,
};
