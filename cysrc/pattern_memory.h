/* Work memory of the sparsity kernels (cysrc/pattern.pyx): huge-page
   allocation and a small pool of large blocks kept between calls. */
#ifndef SYMASD_PATTERN_MEMORY_H
#define SYMASD_PATTERN_MEMORY_H

#include "pythread.h"
#include "big_alloc.h"

/* Work memory kept between calls. The C library hands large freed blocks
   back to the system, so every call of a kernel page-faults its work
   arrays afresh, and on virtual machines those faults can cost more than
   the kernel itself. Large blocks are therefore parked here when freed
   (a few, at most WS_KEEP_BYTES in all) and handed to the next request
   that fits. ws_live remembers the capacity of the blocks handed out;
   a pointer it does not know (a small block, or one allocated while it
   was full) is simply freed. */
#define WS_MIN_BYTES ((size_t)64 << 10)
#define WS_KEEP_BYTES ((size_t)32 << 20)
#define WS_LIVE 64
#define WS_KEEP 8
typedef struct { void *p; size_t cap; } symasd_ws_entry;
static symasd_ws_entry ws_live[WS_LIVE];
static symasd_ws_entry ws_keep[WS_KEEP];
static size_t ws_kept_bytes = 0;
static PyThread_type_lock ws_lock = NULL;

static int symasd_ws_init(void) {
    if (ws_lock == NULL) ws_lock = PyThread_allocate_lock();
    return ws_lock == NULL ? -1 : 0;
}

static void *symasd_ws_alloc(size_t nbytes) {
    void *p = NULL;
    size_t cap = nbytes;
    int i, best = -1;
    if (nbytes < WS_MIN_BYTES) return malloc(nbytes > 0 ? nbytes : 1);
    PyThread_acquire_lock(ws_lock, WAIT_LOCK);
    for (i = 0; i < WS_KEEP; i++)
        if (ws_keep[i].p != NULL && ws_keep[i].cap >= nbytes
                && (best < 0 || ws_keep[i].cap < ws_keep[best].cap))
            best = i;
    if (best >= 0) {
        p = ws_keep[best].p;
        cap = ws_keep[best].cap;
        ws_keep[best].p = NULL;
        ws_kept_bytes -= cap;
    }
    PyThread_release_lock(ws_lock);
    if (p == NULL) p = symasd_big_alloc(nbytes);
    if (p == NULL) return NULL;
    PyThread_acquire_lock(ws_lock, WAIT_LOCK);
    for (i = 0; i < WS_LIVE; i++)
        if (ws_live[i].p == NULL) {
            ws_live[i].p = p;
            ws_live[i].cap = cap;
            break;
        }
    PyThread_release_lock(ws_lock);
    return p;
}

static void symasd_ws_free(void *p) {
    int i, slot = -1;
    size_t cap = 0;
    if (p == NULL) return;
    PyThread_acquire_lock(ws_lock, WAIT_LOCK);
    for (i = 0; i < WS_LIVE; i++)
        if (ws_live[i].p == p) {
            cap = ws_live[i].cap;
            ws_live[i].p = NULL;
            break;
        }
    if (cap > 0) {
        /* keep it in an empty slot, or instead of the smallest kept block
           if that is smaller; give back blocks beyond the byte budget */
        for (i = 0; i < WS_KEEP; i++) {
            if (ws_keep[i].p == NULL) { slot = i; break; }
            if (ws_keep[i].cap < cap && (slot < 0 || ws_keep[i].cap < ws_keep[slot].cap))
                slot = i;
        }
        if (slot >= 0 && ws_keep[slot].p != NULL
                && ws_kept_bytes - ws_keep[slot].cap + cap <= WS_KEEP_BYTES) {
            free(ws_keep[slot].p);
            ws_kept_bytes -= ws_keep[slot].cap;
            ws_keep[slot].p = NULL;
        }
        if (slot >= 0 && ws_keep[slot].p == NULL && ws_kept_bytes + cap <= WS_KEEP_BYTES) {
            ws_keep[slot].p = p;
            ws_keep[slot].cap = cap;
            ws_kept_bytes += cap;
            p = NULL;
        }
    }
    PyThread_release_lock(ws_lock);
    free(p);
}

static size_t symasd_ws_kept_bytes(void) { return ws_kept_bytes; }

static void symasd_ws_release(void) {
    int i;
    PyThread_acquire_lock(ws_lock, WAIT_LOCK);
    for (i = 0; i < WS_KEEP; i++) {
        free(ws_keep[i].p);
        ws_keep[i].p = NULL;
    }
    ws_kept_bytes = 0;
    PyThread_release_lock(ws_lock);
}

#endif /* SYMASD_PATTERN_MEMORY_H */
