/* tbprofile: a QEMU user-mode TCG plugin (plugin API v1, QEMU 7.2) that profiles a guest
 * run per translation block: for every block it keeps the guest address, the instruction
 * bytes and how often each guest thread (vCPU) executed it, per measurement phase.
 *
 * The guest brackets what it wants measured with a marker system call (number 0x7fac,
 * unknown to Linux, so the kernel side is a harmless -ENOSYS):
 *   syscall(0x7fac, K)  K = 1..15: start (or switch to) phase K     syscall(0x7fac, 0)  back to phase 0
 * Phase 0 is everything unmarked. Each start of phase K counts one mark of K, so a host
 * tool can divide a phase's totals by its iterations; one process can measure several
 * things (e.g. a network at 1, 2, 3 and 4 threads) in phases of their own.
 *
 * Build: gcc -O2 -shared -fPIC -o libtbprofile.so tbprofile.c
 * Run:   qemu-aarch64 -cpu cortex-a72 -plugin ./libtbprofile.so,out=FILE prog args
 *
 * Output (text, written at guest exit):
 *   tbprofile 2 vcpus=V
 *   M <phase> <marks>                       one line per phase that was started
 *   B <vaddr hex> <instruction bytes hex> <phase>:<count vcpu0>,<count vcpu1>,... [<phase>:...]
 * Only blocks executed at least once are written, with the phases they ran in. QEMU may
 * translate one guest block more than once (after a flush, or split differently): each
 * translation is a line of its own; the host tool merges equal (address, bytes) pairs.
 *
 * Only the few API declarations used are written out here (they are QEMU's documented,
 * stable v1 plugin ABI), so no qemu development headers are needed. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                              uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define TBPROFILE_MARK 0x7fac
#define MAX_VCPUS 16 /* guest threads; a higher vCPU index is folded onto the last slot */
#define MAX_PHASES 16

struct block {
    uint64_t vaddr;
    uint32_t nbytes;
    uint8_t *bytes;
    /* [phase] -> counts per vcpu, allocated when the block first runs in that phase;
     * each vCPU writes only its own slot */
    uint64_t *count[MAX_PHASES];
    struct block *next;
};

static struct block *blocks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int phase;
static uint64_t marks[MAX_PHASES];
static unsigned max_vcpu_seen;
static char outpath[1024];

static void tb_exec(unsigned int vcpu, void *ud) {
    struct block *b = ud;
    unsigned v = vcpu < MAX_VCPUS ? vcpu : MAX_VCPUS - 1;
    int ph = phase;
    uint64_t *c = __atomic_load_n(&b->count[ph], __ATOMIC_ACQUIRE);
    if (!c) {
        uint64_t *fresh = calloc(MAX_VCPUS, sizeof *fresh), *expected = NULL;
        if (!fresh) { fprintf(stderr, "tbprofile: out of memory\n"); abort(); }
        if (__atomic_compare_exchange_n(&b->count[ph], &expected, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            c = fresh;
        else { free(fresh); c = expected; } /* another vCPU allocated it first */
    }
    c[v]++;
    if (v > max_vcpu_seen) max_vcpu_seen = v; /* benign race: only grows */
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb), total = 0, off = 0;
    for (size_t i = 0; i < n; i++) total += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    struct block *b = calloc(1, sizeof *b);
    b->bytes = malloc(total ? total : 1);
    if (!b || !b->bytes) { fprintf(stderr, "tbprofile: out of memory\n"); abort(); }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t sz = qemu_plugin_insn_size(insn);
        memcpy(b->bytes + off, qemu_plugin_insn_data(insn), sz);
        off += sz;
    }
    b->vaddr = qemu_plugin_tb_vaddr(tb);
    b->nbytes = (uint32_t)total;
    pthread_mutex_lock(&lock);
    b->next = blocks;
    blocks = b;
    pthread_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num != TBPROFILE_MARK) return;
    if (a1 > 0 && a1 < MAX_PHASES) { phase = (int)a1; marks[a1]++; }
    else phase = 0;
}

static void write_counts(FILE *f, const uint64_t *c, unsigned nv) {
    for (unsigned v = 0; v < nv; v++) fprintf(f, v ? ",%" PRIu64 : "%" PRIu64, c[v]);
}

static void at_exit(qemu_plugin_id_t id, void *p) {
    FILE *f = outpath[0] ? fopen(outpath, "w") : stderr;
    if (!f) { fprintf(stderr, "tbprofile: cannot write %s\n", outpath); return; }
    unsigned nv = max_vcpu_seen + 1;
    fprintf(f, "tbprofile 2 vcpus=%u\n", nv);
    for (int ph = 1; ph < MAX_PHASES; ph++)
        if (marks[ph]) fprintf(f, "M %d %" PRIu64 "\n", ph, marks[ph]);
    pthread_mutex_lock(&lock);
    for (const struct block *b = blocks; b; b = b->next) {
        bool any = false;
        for (int ph = 0; ph < MAX_PHASES && !any; ph++) any = b->count[ph] != NULL;
        if (!any) continue;
        fprintf(f, "B %" PRIx64 " ", b->vaddr);
        for (uint32_t i = 0; i < b->nbytes; i++) fprintf(f, "%02x", b->bytes[i]);
        for (int ph = 0; ph < MAX_PHASES; ph++) {
            if (!b->count[ph]) continue;
            fprintf(f, " %d:", ph);
            write_counts(f, b->count[ph], nv);
        }
        fputc('\n', f);
    }
    pthread_mutex_unlock(&lock);
    if (f != stderr) fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4)) snprintf(outpath, sizeof(outpath), "%s", argv[i] + 4);
        else { fprintf(stderr, "tbprofile: unknown argument %s (expected out=PATH)\n", argv[i]); return -1; }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
