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
 * Options: out=PATH (default stderr); cache=1 also simulates data caches on every load
 * and store (64-byte lines, LRU, write-allocate, on guest virtual addresses): by default
 * the Pi 4B's (per-core L1D 32 KB 2-way, shared L2 1 MB 16-way); l1kb=, l1ways=, l2kb=,
 * l2ways= describe another CPU (l2 shared by all cores). Slower, so off by default.
 *
 * Epochs: inside marked phases the run is cut into epochs at every futex wake-up that
 * woke a thread (with OMP_WAIT_POLICY=PASSIVE that is where an OpenMP barrier or the
 * start of a parallel region releases the waiting threads) and at every phase change;
 * per epoch and thread the plugin counts instructions (and cache misses), so the host
 * can charge each parallel region its slowest thread.
 *
 * Output (text, written at guest exit):
 *   tbprofile 3 vcpus=V cache=0|1
 *   M <phase> <marks>                       one line per phase that was started
 *   C <phase> <accesses per vcpu,...> <L1 misses per vcpu,...> <L2 misses per vcpu,...>   (cache=1)
 *   E <phase> <insns per vcpu,...> <L1 misses per vcpu,...> <L2 misses per vcpu,...>     epochs, in order
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
typedef uint32_t qemu_plugin_meminfo_t;
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
typedef void (*qemu_plugin_vcpu_syscall_ret_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_idx, int64_t num, int64_t ret);
void qemu_plugin_register_vcpu_syscall_ret_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_ret_cb_t cb);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define TBPROFILE_MARK 0x7fac
#define MAX_VCPUS 16 /* guest threads; a higher vCPU index is folded onto the last slot */
#define MAX_PHASES 16

struct block {
    uint64_t vaddr;
    uint32_t nbytes, ninsns;
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
static int simulate_cache;

/* ---- epochs: chunked so that a counter's address never moves */
#define EPOCH_CHUNK 4096
#define MAX_EPOCH_CHUNKS 1024
struct epoch { int phase; uint64_t insns[MAX_VCPUS]; uint64_t l1m[MAX_VCPUS], l2m[MAX_VCPUS]; };
static struct epoch *epoch_chunks[MAX_EPOCH_CHUNKS];
static volatile uint32_t cur_epoch; /* index; 0 = outside marked phases (not recorded) */
static pthread_mutex_t epoch_lock = PTHREAD_MUTEX_INITIALIZER; /* chunk allocation only */

static struct epoch *epoch_at(uint32_t e) {
    uint32_t c = e / EPOCH_CHUNK;
    if (c >= MAX_EPOCH_CHUNKS) return NULL;
    struct epoch *chunk = __atomic_load_n(&epoch_chunks[c], __ATOMIC_ACQUIRE);
    if (!chunk) {
        pthread_mutex_lock(&epoch_lock);
        if (!epoch_chunks[c]) {
            struct epoch *fresh = calloc(EPOCH_CHUNK, sizeof *fresh);
            if (!fresh) { fprintf(stderr, "tbprofile: out of memory\n"); abort(); }
            __atomic_store_n(&epoch_chunks[c], fresh, __ATOMIC_RELEASE);
        }
        chunk = epoch_chunks[c];
        pthread_mutex_unlock(&epoch_lock);
    }
    return &chunk[e % EPOCH_CHUNK];
}

static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static void next_epoch(int ph) {
    static uint32_t last; /* keeps growing across phases; 0 is never a marked epoch */
    pthread_mutex_lock(&next_lock);
    uint32_t e = 0;
    if (ph) {
        e = ++last;
        struct epoch *ep = epoch_at(e);
        if (ep) ep->phase = ph; else e = 0;
    }
    cur_epoch = e;
    pthread_mutex_unlock(&next_lock);
}

/* ---- the Pi 4B's data caches (cache=1) */
#define LINE_SHIFT 6
static unsigned l1_kb = 32, l1_ways = 2, l2_kb = 1024, l2_ways = 16, l1_sets, l2_sets;
/* per core: tags[set * ways + way] and ages; the shared L2 likewise */
struct l1 { uint64_t *tag; uint32_t *age; uint32_t clock; uint64_t last_line; };
static struct l1 l1s[MAX_VCPUS];
static uint64_t *l2_tag;
static uint32_t *l2_age;
static uint32_t l2_clock;
static uint64_t acc[MAX_PHASES][MAX_VCPUS], l1miss[MAX_PHASES][MAX_VCPUS], l2miss[MAX_PHASES][MAX_VCPUS];

/* returns 1 on a miss; shared L2 updates race between vCPUs: a rare lost update only
 * perturbs the LRU order, never the memory safety (indices are bounded) */
/* one LRU set lookup; returns 1 on a miss (the line is then filled) */
static int set_access(uint64_t *tag, uint32_t *age, unsigned ways, uint64_t line, uint32_t now) {
    uint64_t t = line + 1; /* 0 marks an empty way */
    unsigned victim = 0;
    uint32_t oldest = UINT32_MAX;
    for (unsigned w = 0; w < ways; w++) {
        if (tag[w] == t) { age[w] = now; return 0; }
        if (age[w] < oldest) { oldest = age[w]; victim = w; }
    }
    tag[victim] = t;
    age[victim] = now;
    return 1;
}

static void line_access(unsigned v, uint64_t line, int ph) {
    struct l1 *c = &l1s[v];
    if (line == c->last_line) return; /* same line as this core's last access: a hit */
    c->last_line = line;
    if (!c->tag) { /* first access of this core: its L1 (never freed; cores live as long as qemu) */
        c->tag = calloc((size_t)l1_sets * l1_ways, sizeof *c->tag);
        c->age = calloc((size_t)l1_sets * l1_ways, sizeof *c->age);
        if (!c->tag || !c->age) { fprintf(stderr, "tbprofile: out of memory\n"); abort(); }
    }
    size_t s1 = (size_t)(line % l1_sets) * l1_ways;
    if (!set_access(c->tag + s1, c->age + s1, l1_ways, line, ++c->clock)) return;
    size_t s2 = (size_t)(line % l2_sets) * l2_ways;
    int miss2 = set_access(l2_tag + s2, l2_age + s2, l2_ways, line, ++l2_clock);
    if (ph) {
        l1miss[ph][v]++;
        if (miss2) l2miss[ph][v]++;
        struct epoch *ep = cur_epoch ? epoch_at(cur_epoch) : NULL;
        if (ep) { ep->l1m[v]++; if (miss2) ep->l2m[v]++; }
    }
}

static void mem_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud) {
    unsigned v = vcpu < MAX_VCPUS ? vcpu : MAX_VCPUS - 1;
    int ph = phase;
    uint64_t size = 1ull << qemu_plugin_mem_size_shift(info);
    uint64_t first = vaddr >> LINE_SHIFT, last = (vaddr + size - 1) >> LINE_SHIFT;
    if (ph) acc[ph][v]++;
    line_access(v, first, ph);
    if (last != first) line_access(v, last, ph);
}

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
    if (ph && cur_epoch) {
        struct epoch *ep = epoch_at(cur_epoch);
        if (ep) ep->insns[v] += b->ninsns;
    }
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
    b->ninsns = (uint32_t)n;
    if (simulate_cache)
        for (size_t i = 0; i < n; i++)
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), mem_access, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
    pthread_mutex_lock(&lock);
    b->next = blocks;
    blocks = b;
    pthread_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static int futex_op[MAX_VCPUS];

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    unsigned v = vcpu < MAX_VCPUS ? vcpu : MAX_VCPUS - 1;
    if (num == 98) { futex_op[v] = (int)(a2 & 0x7f); return; } /* aarch64 futex: remember the op */
    if (num != TBPROFILE_MARK) return;
    if (a1 > 0 && a1 < MAX_PHASES) { phase = (int)a1; marks[a1]++; }
    else phase = 0;
    next_epoch(phase);
}

/* a futex wake (FUTEX_WAKE 1, FUTEX_WAKE_OP 5, FUTEX_WAKE_BITSET 10) that woke a thread */
static void on_syscall_ret(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, int64_t ret) {
    unsigned v = vcpu < MAX_VCPUS ? vcpu : MAX_VCPUS - 1;
    if (num != 98 || ret <= 0 || !phase) return;
    int op = futex_op[v];
    if (op == 1 || op == 5 || op == 10) next_epoch(phase);
}

static void write_counts(FILE *f, const uint64_t *c, unsigned nv) {
    for (unsigned v = 0; v < nv; v++) fprintf(f, v ? ",%" PRIu64 : "%" PRIu64, c[v]);
}

static void write_triple(FILE *f, char kind, int ph, const uint64_t *a, const uint64_t *b, const uint64_t *c,
                         unsigned nv) {
    fprintf(f, "%c %d ", kind, ph);
    write_counts(f, a, nv);
    fputc(' ', f);
    write_counts(f, b, nv);
    fputc(' ', f);
    write_counts(f, c, nv);
    fputc('\n', f);
}

static void at_exit(qemu_plugin_id_t id, void *p) {
    FILE *f = outpath[0] ? fopen(outpath, "w") : stderr;
    if (!f) { fprintf(stderr, "tbprofile: cannot write %s\n", outpath); return; }
    unsigned nv = max_vcpu_seen + 1;
    fprintf(f, "tbprofile 3 vcpus=%u cache=%d l1kb=%u l1ways=%u l2kb=%u l2ways=%u\n", nv, simulate_cache, l1_kb, l1_ways,
            l2_kb, l2_ways);
    for (int ph = 1; ph < MAX_PHASES; ph++)
        if (marks[ph]) fprintf(f, "M %d %" PRIu64 "\n", ph, marks[ph]);
    if (simulate_cache)
        for (int ph = 1; ph < MAX_PHASES; ph++)
            if (marks[ph]) write_triple(f, 'C', ph, acc[ph], l1miss[ph], l2miss[ph], nv);
    pthread_mutex_lock(&lock);
    for (uint32_t e = 1;; e++) {
        struct epoch *ep = epoch_chunks[e / EPOCH_CHUNK] ? &epoch_chunks[e / EPOCH_CHUNK][e % EPOCH_CHUNK] : NULL;
        if (!ep || !ep->phase) break;
        bool any = false;
        for (unsigned v = 0; v < nv; v++) any |= ep->insns[v] != 0;
        if (any) write_triple(f, 'E', ep->phase, ep->insns, ep->l1m, ep->l2m, nv);
    }
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
        else if (!strcmp(argv[i], "cache=1")) simulate_cache = 1;
        else if (!strcmp(argv[i], "cache=0")) simulate_cache = 0;
        else if (!strncmp(argv[i], "l1kb=", 5)) l1_kb = (unsigned)atoi(argv[i] + 5);
        else if (!strncmp(argv[i], "l1ways=", 7)) l1_ways = (unsigned)atoi(argv[i] + 7);
        else if (!strncmp(argv[i], "l2kb=", 5)) l2_kb = (unsigned)atoi(argv[i] + 5);
        else if (!strncmp(argv[i], "l2ways=", 7)) l2_ways = (unsigned)atoi(argv[i] + 7);
        else {
            fprintf(stderr, "tbprofile: unknown argument %s (expected out=PATH, cache=0|1, l1kb=, l1ways=, l2kb=, l2ways=)\n",
                    argv[i]);
            return -1;
        }
    }
    if (!l1_kb || !l1_ways || !l2_kb || !l2_ways) { fprintf(stderr, "tbprofile: cache sizes and ways must be positive\n"); return -1; }
    l1_sets = l1_kb * 1024 / 64 / l1_ways;
    l2_sets = l2_kb * 1024 / 64 / l2_ways;
    if (simulate_cache) {
        l2_tag = calloc((size_t)l2_sets * l2_ways, sizeof *l2_tag);
        l2_age = calloc((size_t)l2_sets * l2_ways, sizeof *l2_age);
        if (!l2_tag || !l2_age || !l1_sets || !l2_sets) { fprintf(stderr, "tbprofile: bad cache geometry\n"); return -1; }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_vcpu_syscall_ret_cb(id, on_syscall_ret);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
