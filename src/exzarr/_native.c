/* exzarr._native: the per-chunk loop of local reads, run without the GIL.
 *
 * read_grid() takes a batch of chunk files of one array and, for each, opens it, reads it
 * into a reused buffer, checks its framing and decodes it (no compressor, or one zstd frame)
 * straight into the output when the chunk's destination is one contiguous block, else into a
 * scratch chunk copied row by row into the output. The whole batch runs with the GIL released,
 * so every core decodes at once and no thread waits for the GIL between the syscalls and the
 * decompression of a chunk (the Python loop took and dropped it about six times per chunk).
 *
 * Nothing here raises for a chunk: each one gets a status, and the caller handles every chunk
 * that is not OK on its ordinary (Python) path, which reports errors exactly as before. The
 * checks are the ones of exzarr.codecs.bounded, made before the decoder sees a byte: the stored
 * size is at most `limit`, a raw chunk has exactly the chunk's size, a zstd chunk is one frame
 * (zstd's magic number, nothing after the frame) that states the chunk's size as its content
 * size (frames that state none, and chunks of several frames, which zarr-python also reads, go
 * to the Python path), and the decoder writes at most the chunk's
 * size and must produce exactly it. A chunk is always decoded whole, even when only its leading
 * rows are read, so damage anywhere in it is found as on the Python path.
 *
 * libzstd is not linked: its functions are handed over at import (use_zstd), those of the libzstd
 * the Python path decodes with; until then, only uncompressed chunks are handled here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_OK 0
#define ST_MISSING 1
#define ST_FALLBACK 2 /* let the Python path read (and judge) this chunk */

#define CODEC_RAW 0
#define CODEC_ZSTD 1

#define MAX_NDIM 32
#define ZSTD_MAGIC 0xFD2FB528u

/* The libzstd functions used, declared from its stable API. They are not linked or loaded from
   the system: exzarr.codecs.libzstd hands over (use_zstd) the addresses of the functions of one
   libzstd (numcodecs' build, else the `zstandard` package's), and then the Python path decodes and
   encodes through zstd_decompress / zstd_stream / zstd_compress below, so that both paths accept
   and refuse exactly the same frames (libzstd versions differ in what corruption they detect:
   1.5.4 decodes some damaged frames that 1.5.6 and later refuse). */
typedef struct {
    void *(*create_dctx)(void);
    size_t (*free_dctx)(void *);
    size_t (*decompress_dctx)(void *, void *, size_t, const void *, size_t);
    unsigned (*is_error)(size_t);
    unsigned long long (*frame_content_size)(const void *, size_t);
    size_t (*find_frame_compressed_size)(const void *, size_t);
    size_t (*dctx_reset)(void *, int);
    size_t (*decompress_stream)(void *, void *, void *);
    size_t (*sizeof_dctx)(const void *);
    void *(*create_cctx)(void);
    size_t (*free_cctx)(void *);
    size_t (*cctx_set_parameter)(void *, int, int);
    size_t (*cctx_reset)(void *, int);
    size_t (*compress2)(void *, void *, size_t, const void *, size_t);
    size_t (*compress_bound)(size_t);
    size_t (*sizeof_cctx)(const void *);
    const char *(*error_name)(size_t);
} zstd_api;

/* ZSTD_inBuffer / ZSTD_outBuffer of the stable API */
typedef struct {
    const void *src;
    size_t size;
    size_t pos;
} zstd_in;
typedef struct {
    void *dst;
    size_t size;
    size_t pos;
} zstd_out;
#define ZSTD_RESET_SESSION_ONLY 1

/* ZSTD_cParameter values of the stable API */
#define ZSTD_C_COMPRESSION_LEVEL 100
#define ZSTD_C_CONTENT_SIZE_FLAG 200
#define ZSTD_C_CHECKSUM_FLAG 201

static zstd_api Z;
static int zstd_ok = 0, zstd_enc_ok = 0, zstd_bound = 0;

/* name in libzstd -> slot in Z (all required) */
static const struct {
    const char *name;
    size_t offset;
} ZSTD_FUNCS[] = {
    {"ZSTD_createDCtx", offsetof(zstd_api, create_dctx)},
    {"ZSTD_freeDCtx", offsetof(zstd_api, free_dctx)},
    {"ZSTD_decompressDCtx", offsetof(zstd_api, decompress_dctx)},
    {"ZSTD_isError", offsetof(zstd_api, is_error)},
    {"ZSTD_getFrameContentSize", offsetof(zstd_api, frame_content_size)},
    {"ZSTD_findFrameCompressedSize", offsetof(zstd_api, find_frame_compressed_size)},
    {"ZSTD_DCtx_reset", offsetof(zstd_api, dctx_reset)},
    {"ZSTD_decompressStream", offsetof(zstd_api, decompress_stream)},
    {"ZSTD_sizeof_DCtx", offsetof(zstd_api, sizeof_dctx)},
    {"ZSTD_createCCtx", offsetof(zstd_api, create_cctx)},
    {"ZSTD_freeCCtx", offsetof(zstd_api, free_cctx)},
    {"ZSTD_CCtx_setParameter", offsetof(zstd_api, cctx_set_parameter)},
    {"ZSTD_CCtx_reset", offsetof(zstd_api, cctx_reset)},
    {"ZSTD_compress2", offsetof(zstd_api, compress2)},
    {"ZSTD_compressBound", offsetof(zstd_api, compress_bound)},
    {"ZSTD_sizeof_CCtx", offsetof(zstd_api, sizeof_cctx)},
    {"ZSTD_getErrorName", offsetof(zstd_api, error_name)},
};
#define N_ZSTD_FUNCS (sizeof ZSTD_FUNCS / sizeof ZSTD_FUNCS[0])

PyDoc_STRVAR(use_zstd_doc,
             "use_zstd(functions) -> bool\n\n"
             "Decode and encode zstd with the libzstd whose functions ``functions`` maps (name -> address, every one of\n"
             "ZSTD_createDCtx ... ZSTD_getErrorName). Once per process: a second call must name the same addresses.\n"
             "Returns whether zstd is now handled here.");

static PyObject *use_zstd(PyObject *self, PyObject *funcs) {
    (void)self;
    if (!PyDict_Check(funcs)) return PyErr_Format(PyExc_TypeError, "use_zstd: expected a dict of name -> address");
    zstd_api next;
    memset(&next, 0, sizeof next);
    for (size_t i = 0; i < N_ZSTD_FUNCS; i++) {
        PyObject *v = PyDict_GetItemString(funcs, ZSTD_FUNCS[i].name);
        if (!v) return PyErr_Format(PyExc_KeyError, "use_zstd: %s is missing", ZSTD_FUNCS[i].name);
        void *addr = PyLong_AsVoidPtr(v);
        if (!addr) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "use_zstd: %s is NULL", ZSTD_FUNCS[i].name);
            return NULL;
        }
        memcpy((char *)&next + ZSTD_FUNCS[i].offset, &addr, sizeof addr);
    }
    if (zstd_bound) { /* contexts made by one library must never reach another's functions */
        if (memcmp(&next, &Z, sizeof next)) return PyErr_Format(PyExc_RuntimeError, "use_zstd: a libzstd is already in use");
        Py_RETURN_TRUE;
    }
    Z = next;
    zstd_bound = zstd_ok = zstd_enc_ok = 1;
    Py_RETURN_TRUE;
}

/* Each thread keeps one decompression and one compression context for all its batches (creating
   a context per batch cost about 1% of a read, and a new context allocates its buffers again).
   They are private to the thread (a pthread key; freed when the thread ends), so nothing is shared
   between threads, and a forked child's only thread keeps a usable copy of its own. */
enum { BUF_READ, BUF_SCRATCH, BUF_OUT, NBUF };

typedef struct {
    void *dctx;
    void *cctx;
    char *buf[NBUF]; /* reused between batches: stored bytes read, a decoded chunk, compressed output */
    size_t cap[NBUF];
} thread_ctx;

/* Buffers larger than this are freed after each batch instead of kept for the next one. */
#define KEEP_BYTES ((size_t)4 << 20)

static pthread_key_t ctx_key;
static int ctx_key_ok;

static void free_thread_ctx(void *p) {
    thread_ctx *t = p;
    if (t->dctx) Z.free_dctx(t->dctx);
    if (t->cctx) Z.free_cctx(t->cctx);
    for (int i = 0; i < NBUF; i++) free(t->buf[i]);
    free(t);
}

static thread_ctx *my_ctx(void) {
    if (!ctx_key_ok) return NULL;
    thread_ctx *t = pthread_getspecific(ctx_key);
    if (!t && (t = calloc(1, sizeof *t)) && pthread_setspecific(ctx_key, t) != 0) {
        free(t);
        t = NULL;
    }
    return t;
}

/* Make *buf (of *cap bytes) hold at least `size` bytes; its content is not kept. 0, or -1 (out of memory). */
static int grow(char **buf, size_t *cap, size_t size) {
    if (size <= *cap && *buf) return 0;
    free(*buf);
    *buf = malloc(size ? size : 1);
    *cap = *buf ? size : 0;
    return *buf ? 0 : -1;
}

/* This thread's buffer `slot`, grown to at least `size` bytes, or NULL (out of memory). */
static char *thread_buf(thread_ctx *t, int slot, size_t size) {
    return grow(&t->buf[slot], &t->cap[slot], size) == 0 ? t->buf[slot] : NULL;
}

/* Contexts holding more than this (a high level, a large window) are freed after the batch. */
#define KEEP_CTX_BYTES ((size_t)16 << 20)

/* After a batch: give back the buffers and contexts too large to keep. */
static void trim_bufs(thread_ctx *t) {
    for (int i = 0; i < NBUF; i++)
        if (t->cap[i] > KEEP_BYTES) {
            free(t->buf[i]);
            t->buf[i] = NULL;
            t->cap[i] = 0;
        }
    if (t->dctx && Z.sizeof_dctx(t->dctx) > KEEP_CTX_BYTES) {
        Z.free_dctx(t->dctx);
        t->dctx = NULL;
    }
    if (t->cctx && Z.sizeof_cctx(t->cctx) > KEEP_CTX_BYTES) {
        Z.free_cctx(t->cctx);
        t->cctx = NULL;
    }
}

/* This thread's decompression context (NULL when none can be made; never freed by the caller). */
static void *thread_dctx(void) {
    thread_ctx *t = my_ctx();
    if (t && !t->dctx) t->dctx = Z.create_dctx();
    return t ? t->dctx : NULL;
}

/* Read the whole regular file at `path` into *buf (grown as needed). */
static int read_file(const char *path, int oflags, long long limit, char **buf, size_t *cap, size_t *len) {
    int fd = open(path, oflags);
    if (fd < 0) return (errno == ENOENT || errno == ENOTDIR) ? ST_MISSING : ST_FALLBACK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ST_FALLBACK;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? ST_MISSING : ST_FALLBACK;
    }
    if (st.st_size > limit) {
        close(fd);
        return ST_FALLBACK;
    }
    size_t size = (size_t)st.st_size;
    if (grow(buf, cap, size) < 0) {
        close(fd);
        return ST_FALLBACK;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, *buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) return ST_FALLBACK; /* the file shrank while it was read */
    *len = size;
    return ST_OK;
}

/* A little-endian 32-bit number (zstd's magic numbers and sizes). */
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The framing checks every zstd chunk passes before a decoder sees it: one frame (zstd's magic
   number, nothing after the frame, not truncated) that states its content size, `nbytes`. A frame
   without one (a stream) is left to the Python path, which decodes it as a stream within its
   declared window as zarr-python does (a one-shot decode would let matches reach past it). */
static int zstd_framing(const char *src, size_t len, size_t nbytes) {
    if (len < 6) return 0;
    if (le32((const unsigned char *)src) != ZSTD_MAGIC) return 0;
    if (Z.frame_content_size(src, len) != (unsigned long long)nbytes) return 0; /* unknown, wrong or an error */
    size_t frame = Z.find_frame_compressed_size(src, len);
    return !Z.is_error(frame) && frame == len; /* no bytes after the frame, not truncated */
}

/* Decode `src` into `dst` (exactly `nbytes`), after the framing checks. */
static int decode(int codec, void *dctx, const char *src, size_t len, char *dst, size_t nbytes) {
    if (codec == CODEC_RAW) {
        if (len != nbytes) return ST_FALLBACK;
        memcpy(dst, src, nbytes);
        return ST_OK;
    }
    if (!zstd_framing(src, len, nbytes)) return ST_FALLBACK;
    size_t n = Z.decompress_dctx(dctx, dst, nbytes, src, len);
    if (Z.is_error(n) || n != nbytes) return ST_FALLBACK;
    return ST_OK;
}

/* The byte strides of a C-order array of `shape` elements of `itemsize` bytes. */
static void c_strides(const Py_ssize_t *shape, int ndim, Py_ssize_t itemsize, Py_ssize_t *stride) {
    stride[ndim - 1] = itemsize;
    for (int d = ndim - 2; d >= 0; d--) stride[d] = stride[d + 1] * shape[d + 1];
}

/* Copy `count` (per axis) elements from `src` to `dst`, each with its own byte strides, the last
   axis contiguous on both sides (`row` bytes per run): the one loop under every block copy here. */
static void copy_rows(const char *src, const Py_ssize_t *sstride, char *dst, const Py_ssize_t *dstride,
                      const Py_ssize_t *count, int ndim, size_t row) {
    Py_ssize_t idx[MAX_NDIM] = {0};
    for (;;) {
        memcpy(dst, src, row);
        int d = ndim - 2;
        for (; d >= 0; d--) {
            src += sstride[d];
            dst += dstride[d];
            if (++idx[d] < count[d]) break;
            src -= sstride[d] * count[d];
            dst -= dstride[d] * count[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

/* Copy the block [c0, c1) of a C-order chunk into the output at o0 (both C order). */
static void copy_block(const char *chunk, char *out, int ndim, const Py_ssize_t *cshape, const Py_ssize_t *oshape,
                       const long long *span, Py_ssize_t itemsize) {
    Py_ssize_t cstride[MAX_NDIM], ostride[MAX_NDIM], count[MAX_NDIM];
    c_strides(cshape, ndim, itemsize, cstride);
    c_strides(oshape, ndim, itemsize, ostride);
    for (int d = 0; d < ndim; d++) {
        chunk += (Py_ssize_t)span[3 * d] * cstride[d];
        out += (Py_ssize_t)span[3 * d + 2] * ostride[d];
        count[d] = (Py_ssize_t)(span[3 * d + 1] - span[3 * d]);
    }
    copy_rows(chunk, cstride, out, ostride, count, ndim, (size_t)(count[ndim - 1] * itemsize));
}

/* Decode one stored chunk (rbuf, rlen) into its block of the output. */
static int place(int codec, void *dctx, const char *rbuf, size_t rlen, char **scratch, size_t *scap, char *out, int ndim,
                 const Py_ssize_t *cshape, const Py_ssize_t *oshape, const long long *s, Py_ssize_t itemsize, size_t nbytes) {
    /* the destination is one contiguous block when the chunk is whole and the output keeps the
       chunk's extent on every axis after the first */
    int direct = s[0] == 0 && s[1] == cshape[0];
    for (int d = 1; d < ndim && direct; d++) direct = s[3 * d] == 0 && s[3 * d + 1] == cshape[d] && oshape[d] == cshape[d];
    if (direct) return decode(codec, dctx, rbuf, rlen, out + (size_t)s[2] * (nbytes / (size_t)cshape[0]), nbytes);
    if (codec == CODEC_RAW) { /* copy the block straight from the stored bytes */
        if (rlen != nbytes) return ST_FALLBACK;
        copy_block(rbuf, out, ndim, cshape, oshape, s, itemsize);
        return ST_OK;
    }
    if (grow(scratch, scap, nbytes) < 0) return ST_FALLBACK;
    /* always the whole frame, even when the block needs only leading rows: a prefix would not see
       damage in the blocks after it (the Python path and zarr-python refuse such a chunk) */
    int r = decode(codec, dctx, rbuf, rlen, *scratch, nbytes);
    if (r == ST_OK) copy_block(*scratch, out, ndim, cshape, oshape, s, itemsize);
    return r;
}

/* itemsize * prod(cshape) and itemsize * prod(oshape), refused when they overflow */
static int byte_sizes(Py_ssize_t itemsize, int ndim, const Py_ssize_t *cshape, const Py_ssize_t *oshape, size_t *nbytes,
                      size_t *obytes, const char *what) {
    *nbytes = *obytes = (size_t)itemsize;
    for (int d = 0; d < ndim; d++) {
        if (__builtin_mul_overflow(*nbytes, (size_t)cshape[d], nbytes) ||
            __builtin_mul_overflow(*obytes, (size_t)oshape[d], obytes) || *nbytes > (size_t)PY_SSIZE_T_MAX ||
            *obytes > (size_t)PY_SSIZE_T_MAX) {
            PyErr_Format(PyExc_ValueError, "chunk_shape or %s: too many bytes", what);
            return -1;
        }
    }
    return 0;
}

/* A private copy of the spans of `n` chunks (checked and used without the GIL: the caller's
   buffer may change meanwhile, from another thread or by aliasing the output) */
static long long *copy_spans(const Py_buffer *spans, Py_ssize_t n, int ndim) {
    if (n > PY_SSIZE_T_MAX / (3 * MAX_NDIM * (Py_ssize_t)sizeof(long long)) ||
        spans->len != (Py_ssize_t)(n * 3 * ndim * (Py_ssize_t)sizeof(long long))) {
        PyErr_Format(PyExc_ValueError, "spans: expected %zd int64 values", n * 3 * ndim);
        return NULL;
    }
    long long *sp = PyMem_Malloc((size_t)(n ? n : 1) * 3 * (size_t)ndim * sizeof(long long));
    if (!sp) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(sp, spans->buf, (size_t)spans->len);
    return sp;
}

/* The item size and codec checks every entry point makes first: 0, or -1 with the error set. */
static int check_codec(Py_ssize_t itemsize, int codec, int encode) {
    if (itemsize < 1) {
        PyErr_Format(PyExc_ValueError, "itemsize must be positive");
        return -1;
    }
    if (codec != CODEC_RAW && !(codec == CODEC_ZSTD && (encode ? zstd_enc_ok : zstd_ok))) {
        PyErr_Format(PyExc_ValueError, encode ? "codec %d is not available for writing" : "codec %d is not available", codec);
        return -1;
    }
    return 0;
}

/* The fill value of the encoders: None, or exactly one item's bytes. 0, or -1 with the error set. */
static int check_fill(PyObject *fill_obj, Py_ssize_t itemsize) {
    if (fill_obj != Py_None && (!PyBytes_Check(fill_obj) || PyBytes_GET_SIZE(fill_obj) != itemsize)) {
        PyErr_Format(PyExc_ValueError, "fill: expected None or %zd bytes", itemsize);
        return -1;
    }
    return 0;
}

/* The encoders' spans: every block a whole chunk inside the source. 0, or -1 with the error set. */
static int check_whole_chunks(const long long *sp, Py_ssize_t n, int ndim, const Py_ssize_t *cshape, const Py_ssize_t *sshape) {
    for (Py_ssize_t i = 0; i < n * ndim; i++) {
        long long c0 = sp[3 * i], c1 = sp[3 * i + 1], o0 = sp[3 * i + 2];
        int d = (int)(i % ndim);
        if (c0 != 0 || c1 != cshape[d] || o0 < 0 || o0 > sshape[d] || c1 > sshape[d] - o0) {
            PyErr_Format(PyExc_ValueError, "spans: block %zd is not a whole chunk inside the source", i / ndim);
            return -1;
        }
    }
    return 0;
}

static int as_shape(PyObject *seq, Py_ssize_t *dims, int *ndim, const char *what) {
    PyObject *t = PySequence_Fast(seq, what);
    if (!t) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(t);
    if (n < 1 || n > MAX_NDIM) {
        Py_DECREF(t);
        PyErr_Format(PyExc_ValueError, "%s: need 1 to %d dimensions, got %zd", what, MAX_NDIM, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        dims[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(t, i));
        if (dims[i] < 0) {
            Py_DECREF(t);
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "%s: negative extent", what);
            return -1;
        }
    }
    *ndim = (int)n;
    Py_DECREF(t);
    return 0;
}

/* Read `len` bytes at `off` of the open file `fd` into *buf (grown as needed). */
static int read_range(int fd, long long off, long long len, long long limit, char **buf, size_t *cap, size_t *got_len) {
    if (fd < 0 || off < 0 || len < 0 || len > limit) return ST_FALLBACK;
    size_t size = (size_t)len;
    if (grow(buf, cap, size) < 0) return ST_FALLBACK;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, *buf + got, size - got, (off_t)(off + (long long)got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got != size) return ST_FALLBACK;
    *got_len = size;
    return ST_OK;
}

#define FROM_RANGES 1
#define FROM_GRID 2

/* The file of the chunk at grid index `idx`: `base`, then the indices in decimal joined by `sep`
   (as the chunk key encodings spell them); 0, or -1 when it does not fit in `path`. */
static int grid_path(const char *base, size_t blen, char sep, const long long *idx, int ndim, char *path, size_t cap) {
    if (blen >= cap) return -1;
    memcpy(path, base, blen);
    size_t at = blen;
    for (int d = 0; d < ndim; d++) {
        char digits[24];
        int k = 0;
        unsigned long long v = (unsigned long long)idx[d];
        do digits[k++] = (char)('0' + v % 10); while ((v /= 10) && k < 24);
        if (at + (size_t)k + 2 > cap) return -1;
        if (d) path[at++] = sep;
        while (k) path[at++] = digits[--k];
    }
    path[at] = '\0';
    return 0;
}

static PyObject *run_batch(PyObject *args, int mode) {
    PyObject *src_obj, *spans_obj, *out_obj, *oshape_obj, *cshape_obj;
    Py_ssize_t itemsize;
    int codec, oflags;
    long long limit;
    if (!PyArg_ParseTuple(args, "OOOOOniLi", &src_obj, &spans_obj, &out_obj, &oshape_obj, &cshape_obj, &itemsize, &codec,
                          &limit, &oflags))
        return NULL;
    Py_ssize_t oshape[MAX_NDIM], cshape[MAX_NDIM];
    int ndim, cndim;
    if (as_shape(oshape_obj, oshape, &ndim, "out_shape") < 0 || as_shape(cshape_obj, cshape, &cndim, "chunk_shape") < 0)
        return NULL;
    if (cndim != ndim) return PyErr_Format(PyExc_ValueError, "out_shape and chunk_shape differ in rank");
    if (check_codec(itemsize, codec, 0) < 0) return NULL;
    PyObject *base_ref = NULL;
    Py_buffer ranges = {0}, spans = {0}, out = {0};
    Py_ssize_t n;
    Py_buffer grid = {0};
    const char *base = NULL;
    Py_ssize_t blen = 0;
    char sep = '/';
    if (mode == FROM_GRID) {
        PyObject *base_obj, *sep_obj, *idx_obj;
        if (!PyTuple_Check(src_obj)) return PyErr_Format(PyExc_TypeError, "grid: expected a tuple (base, sep, indices)");
        if (!PyArg_ParseTuple(src_obj, "SSO:grid", &base_obj, &sep_obj, &idx_obj)) return NULL;
        if (PyBytes_GET_SIZE(sep_obj) != 1 || (PyBytes_AS_STRING(sep_obj)[0] != '/' && PyBytes_AS_STRING(sep_obj)[0] != '.'))
            return PyErr_Format(PyExc_ValueError, "grid: the separator must be b'/' or b'.'");
        base = PyBytes_AS_STRING(base_obj);
        blen = PyBytes_GET_SIZE(base_obj);
        if (memchr(base, 0, (size_t)blen)) /* the path would end there */
            return PyErr_Format(PyExc_ValueError, "grid: the base path contains a null byte");
        sep = PyBytes_AS_STRING(sep_obj)[0];
        base_ref = Py_NewRef(base_obj); /* kept alive (bytes: immutable) until the batch ends */
        if (PyObject_GetBuffer(idx_obj, &grid, PyBUF_C_CONTIGUOUS) < 0) {
            Py_DECREF(base_ref);
            return NULL;
        }
        if (grid.len % (Py_ssize_t)(ndim * sizeof(long long))) {
            PyBuffer_Release(&grid);
            Py_DECREF(base_ref);
            return PyErr_Format(PyExc_ValueError, "grid: expected %d int64 indices per chunk", ndim);
        }
        n = grid.len / (Py_ssize_t)(ndim * sizeof(long long));
    } else {
        if (PyObject_GetBuffer(src_obj, &ranges, PyBUF_C_CONTIGUOUS) < 0) return NULL;
        if (ranges.len % (Py_ssize_t)(3 * sizeof(long long))) {
            PyBuffer_Release(&ranges);
            return PyErr_Format(PyExc_ValueError, "ranges: expected int64 (fd, offset, length) triples");
        }
        n = ranges.len / (Py_ssize_t)(3 * sizeof(long long));
    }
    PyObject *status = NULL;
    long long *sp = NULL, *rg = NULL;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_C_CONTIGUOUS) < 0) goto done;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
    size_t nbytes, obytes;
    if (byte_sizes(itemsize, ndim, cshape, oshape, &nbytes, &obytes, "out_shape") < 0) goto done;
    if ((size_t)out.len != obytes) {
        PyErr_Format(PyExc_ValueError, "out: %zd bytes for an output of %zu", out.len, obytes);
        goto done;
    }
    if (!(sp = copy_spans(&spans, n, ndim))) goto done;
    if (!(rg = PyMem_Malloc((size_t)(n ? n : 1) * 3 * sizeof(long long)))) {
        PyErr_NoMemory();
        goto done;
    }
    if (mode == FROM_RANGES) memcpy(rg, ranges.buf, (size_t)ranges.len); /* private too */
    if (mode == FROM_GRID) {
        PyMem_Free(rg);
        if (!(rg = PyMem_Malloc((size_t)(n ? n : 1) * (size_t)ndim * sizeof(long long)))) {
            PyErr_NoMemory();
            goto done;
        }
        memcpy(rg, grid.buf, (size_t)grid.len); /* private too */
        for (Py_ssize_t i = 0; i < n * ndim; i++) {
            if (rg[i] < 0) {
                PyErr_Format(PyExc_ValueError, "grid: chunk %zd has a negative index", i / ndim);
                goto done;
            }
        }
    }
    for (Py_ssize_t i = 0; i < n * ndim; i++) { /* every block inside its chunk and the output */
        long long c0 = sp[3 * i], c1 = sp[3 * i + 1], o0 = sp[3 * i + 2];
        int d = (int)(i % ndim);
        if (c0 < 0 || c1 <= c0 || c1 > cshape[d] || o0 < 0 || o0 > oshape[d] || c1 - c0 > oshape[d] - o0) {
            PyErr_Format(PyExc_ValueError, "spans: block %zd is outside its chunk or the output", i / ndim);
            goto done;
        }
    }
    for (Py_ssize_t i = 0; mode == FROM_RANGES && i < n; i++) {
        if (rg[3 * i] < 0 || rg[3 * i] > INT_MAX || rg[3 * i + 1] < 0 || rg[3 * i + 2] < 0) {
            PyErr_Format(PyExc_ValueError, "ranges: entry %zd is not a descriptor, offset and length", i);
            goto done;
        }
    }
    status = PyByteArray_FromStringAndSize(NULL, n);
    if (!status) goto done;
    char *st = PyByteArray_AS_STRING(status);
    int failed_alloc = 0;
    Py_BEGIN_ALLOW_THREADS;
    size_t rlen = 0;
    char path[PATH_MAX];
    thread_ctx *t = my_ctx();
    void *dctx = codec == CODEC_ZSTD ? thread_dctx() : NULL;
    if (!t || (codec == CODEC_ZSTD && !dctx)) failed_alloc = 1;
    for (Py_ssize_t i = 0; i < n && !failed_alloc; i++) {
        const long long *s = sp + 3 * ndim * i;
        int r;
        if (mode == FROM_GRID)
            r = grid_path(base, (size_t)blen, sep, rg + (size_t)ndim * (size_t)i, ndim, path, sizeof path) == 0
                    ? read_file(path, oflags, limit, &t->buf[BUF_READ], &t->cap[BUF_READ], &rlen)
                    : ST_FALLBACK;
        else
            r = read_range((int)rg[3 * i], rg[3 * i + 1], rg[3 * i + 2], limit, &t->buf[BUF_READ], &t->cap[BUF_READ], &rlen);
        if (r == ST_OK)
            r = place(codec, dctx, t->buf[BUF_READ], rlen, &t->buf[BUF_SCRATCH], &t->cap[BUF_SCRATCH], (char *)out.buf, ndim,
                      cshape, oshape, s, itemsize, nbytes);
        st[i] = (char)r;
    }
    if (t) trim_bufs(t);
    Py_END_ALLOW_THREADS;
    if (failed_alloc) {
        Py_CLEAR(status);
        PyErr_NoMemory();
    }
done:
    PyMem_Free(sp);
    PyMem_Free(rg);
    if (out.obj) PyBuffer_Release(&out);
    if (spans.obj) PyBuffer_Release(&spans);
    if (ranges.obj) PyBuffer_Release(&ranges);
    if (grid.obj) PyBuffer_Release(&grid);
    Py_XDECREF(base_ref);
    return status;
}

PyDoc_STRVAR(read_grid_doc,
             "read_grid((base, sep, indices), spans, out, out_shape, chunk_shape, itemsize, codec, limit, oflags) -> bytearray\n\n"
             "Read, check and decode chunk files into ``out`` (a writable C-contiguous buffer of ``out_shape``\n"
             "elements of ``itemsize`` bytes) without the GIL. Each chunk's file is ``base`` (bytes) followed by\n"
             "its grid indices (``indices``: int64, one row of len(out_shape) per chunk) in decimal, joined by\n"
             "``sep`` (b'/' or b'.'), as the chunk key encodings spell them; it is opened with ``oflags``.\n"
             "``spans`` holds int64 triples (chunk start, chunk stop, output start) per chunk and axis.\n"
             "Returns one status per chunk: 0 decoded, 1 missing, 2 not handled here (read it on the ordinary path).");

static PyObject *read_grid(PyObject *self, PyObject *args) {
    (void)self;
    return run_batch(args, FROM_GRID);
}

PyDoc_STRVAR(read_ranges_doc,
             "read_ranges(ranges, spans, out, out_shape, chunk_shape, itemsize, codec, limit, 0) -> bytearray\n\n"
             "As read_grid, for chunks stored at byte ranges of open files (inner chunks of shards):\n"
             "``ranges`` holds int64 (fd, offset, length) triples, one per chunk. Status 1 never occurs.");

static PyObject *read_ranges(PyObject *self, PyObject *args) {
    (void)self;
    return run_batch(args, FROM_RANGES);
}


/* ------------------------------------------------------------------------------------ writes */

#define ST_WRITTEN 0
#define ST_FILL 3 /* every element equals the fill value: the caller deletes the chunk instead */

/* Copy the chunk-sized block at o0 (per axis, in elements) of a source with byte strides `sstride`
   (rows contiguous) into a C-order chunk. */
static void gather(const char *src, const Py_ssize_t *sstride, char *chunk, int ndim, const Py_ssize_t *cshape,
                   const long long *s, Py_ssize_t itemsize) {
    Py_ssize_t cstride[MAX_NDIM];
    c_strides(cshape, ndim, itemsize, cstride);
    for (int d = 0; d < ndim; d++) src += (Py_ssize_t)s[3 * d + 2] * sstride[d];
    copy_rows(src, sstride, chunk, cstride, cshape, ndim, (size_t)(cshape[ndim - 1] * itemsize));
}

/* Set `cctx` to write frames as exzarr's Python zstd codec does (level, checksum, content size). */
static int set_cctx(void *cctx, int level, int checksum) {
    /* a reset first: after a failed compression the context is mid-frame and refuses parameters */
    return !Z.is_error(Z.cctx_reset(cctx, ZSTD_RESET_SESSION_ONLY)) &&
           !Z.is_error(Z.cctx_set_parameter(cctx, ZSTD_C_COMPRESSION_LEVEL, level)) &&
           !Z.is_error(Z.cctx_set_parameter(cctx, ZSTD_C_CHECKSUM_FLAG, checksum ? 1 : 0)) &&
           !Z.is_error(Z.cctx_set_parameter(cctx, ZSTD_C_CONTENT_SIZE_FLAG, 1));
}

/* This thread's compression context, set for (level, checksum), or NULL (never freed by the caller). */
static void *thread_cctx(int level, int checksum) {
    thread_ctx *t = my_ctx();
    if (!t) return NULL;
    if (t->cctx && !set_cctx(t->cctx, level, checksum)) { /* a context in an unknown state: a new one */
        Z.free_cctx(t->cctx);
        t->cctx = NULL;
    }
    if (!t->cctx && (t->cctx = Z.create_cctx()) && !set_cctx(t->cctx, level, checksum)) {
        Z.free_cctx(t->cctx);
        t->cctx = NULL;
    }
    return t->cctx;
}

static int all_fill(const char *chunk, size_t nbytes, const char *fill, size_t itemsize) {
    for (size_t off = 0; off < nbytes; off += itemsize)
        if (memcmp(chunk + off, fill, itemsize)) return 0;
    return 1;
}

/* Write `len` bytes to a new file `tmp` (exclusive, never through a link), then rename it over `path`. */
static int write_file(const char *tmp, const char *path, const char *data, size_t len, int do_fsync) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return ST_FALLBACK;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    int ok = done == len && (!do_fsync || fsync(fd) == 0);
    if (close(fd) != 0) ok = 0;
    if (ok && rename(tmp, path) == 0) return ST_WRITTEN;
    unlink(tmp);
    return ST_FALLBACK;
}

PyDoc_STRVAR(write_chunks_doc,
             "write_chunks(tmp_paths, paths, spans, src, src_shape, chunk_shape, itemsize, codec, level, checksum, fill,\n"
             "             fsync) -> bytearray\n\n"
             "Encode whole chunks of ``src`` (a C-contiguous buffer of ``src_shape`` elements) and store each\n"
             "atomically: written to ``tmp_paths[i]`` (created exclusively), then renamed over ``paths[i]``.\n"
             "``spans`` holds int64 triples per chunk and axis, (0, chunk extent, source start). ``fill`` is the\n"
             "fill value's bytes (chunks equal to it everywhere get status 3 and are not written) or None.\n"
             "Returns one status per chunk: 0 written, 2 not written (do it on the ordinary path), 3 all fill.");

static PyObject *write_chunks(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *tmp_obj, *path_obj, *spans_obj, *src_obj, *sshape_obj, *cshape_obj, *fill_obj;
    Py_ssize_t itemsize;
    int codec, level, checksum, do_fsync;
    if (!PyArg_ParseTuple(args, "OOOOOOniiiOp", &tmp_obj, &path_obj, &spans_obj, &src_obj, &sshape_obj, &cshape_obj,
                          &itemsize, &codec, &level, &checksum, &fill_obj, &do_fsync))
        return NULL;
    Py_ssize_t sshape[MAX_NDIM], cshape[MAX_NDIM];
    int ndim, cndim;
    if (as_shape(sshape_obj, sshape, &ndim, "src_shape") < 0 || as_shape(cshape_obj, cshape, &cndim, "chunk_shape") < 0)
        return NULL;
    if (cndim != ndim) return PyErr_Format(PyExc_ValueError, "src_shape and chunk_shape differ in rank");
    if (check_codec(itemsize, codec, 1) < 0 || check_fill(fill_obj, itemsize) < 0) return NULL;
    PyObject *tmps = PySequence_Tuple(tmp_obj), *paths = tmps ? PySequence_Tuple(path_obj) : NULL;
    Py_buffer spans = {0}, src = {0};
    PyObject *status = NULL;
    const char **ctmp = NULL, **cpath = NULL;
    long long *sp = NULL;
    if (!paths) goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(paths);
    if (PyTuple_GET_SIZE(tmps) != n) {
        PyErr_Format(PyExc_ValueError, "tmp_paths and paths differ in length");
        goto done;
    }
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_C_CONTIGUOUS) < 0) goto done;
    if (PyObject_GetBuffer(src_obj, &src, PyBUF_C_CONTIGUOUS) < 0) goto done;
    size_t nbytes, sbytes;
    if (byte_sizes(itemsize, ndim, cshape, sshape, &nbytes, &sbytes, "src_shape") < 0) goto done;
    if (nbytes == 0) {
        PyErr_Format(PyExc_ValueError, "chunk_shape: empty chunks are not written here");
        goto done;
    }
    if ((size_t)src.len != sbytes) {
        PyErr_Format(PyExc_ValueError, "src: %zd bytes for a source of %zu", src.len, sbytes);
        goto done;
    }
    if (!(sp = copy_spans(&spans, n, ndim))) goto done;
    ctmp = PyMem_Malloc(sizeof(char *) * (size_t)(n ? n : 1));
    cpath = PyMem_Malloc(sizeof(char *) * (size_t)(n ? n : 1));
    if (!ctmp || !cpath) {
        PyErr_NoMemory();
        goto done;
    }
    if (check_whole_chunks(sp, n, ndim, cshape, sshape) < 0) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        char *t, *p; /* (refuses bytes with a NUL inside: the path would end there) */
        if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(tmps, i), &t, NULL) < 0 ||
            PyBytes_AsStringAndSize(PyTuple_GET_ITEM(paths, i), &p, NULL) < 0)
            goto done;
        ctmp[i] = t;
        cpath[i] = p;
    }
    status = PyByteArray_FromStringAndSize(NULL, n);
    if (!status) goto done;
    char *st = PyByteArray_AS_STRING(status);
    const char *fill = fill_obj == Py_None ? NULL : PyBytes_AS_STRING(fill_obj);
    int contiguous = 1; /* a chunk's rows follow each other in the source: no gather needed */
    for (int d = 1; d < ndim; d++) contiguous &= sshape[d] == cshape[d];
    Py_ssize_t sstride[MAX_NDIM];
    c_strides(sshape, ndim, itemsize, sstride);
    int failed_alloc = 0;
    Py_BEGIN_ALLOW_THREADS;
    void *cctx = NULL;
    thread_ctx *t = my_ctx();
    size_t cap = codec == CODEC_ZSTD ? Z.compress_bound(nbytes) : 0;
    char *scratch = t && !contiguous ? thread_buf(t, BUF_SCRATCH, nbytes) : NULL;
    char *dst = t && cap ? thread_buf(t, BUF_OUT, cap) : NULL;
    if (!t || (!contiguous && !scratch) || (cap && !dst)) failed_alloc = 1;
    if (!failed_alloc && codec == CODEC_ZSTD && !(cctx = thread_cctx(level, checksum))) failed_alloc = 1;
    for (Py_ssize_t i = 0; i < n && !failed_alloc; i++) {
        const long long *s = sp + 3 * ndim * i;
        const char *chunk;
        if (contiguous) {
            chunk = (const char *)src.buf + (size_t)s[2] * (nbytes / (size_t)cshape[0]);
        } else {
            gather((const char *)src.buf, sstride, scratch, ndim, cshape, s, itemsize);
            chunk = scratch;
        }
        if (fill && all_fill(chunk, nbytes, fill, (size_t)itemsize)) {
            st[i] = ST_FILL;
            continue;
        }
        const char *data = chunk;
        size_t len = nbytes;
        if (codec == CODEC_ZSTD) {
            len = Z.compress2(cctx, dst, cap, chunk, nbytes);
            if (Z.is_error(len)) {
                st[i] = ST_FALLBACK;
                continue;
            }
            data = dst;
        }
        st[i] = (char)write_file(ctmp[i], cpath[i], data, len, do_fsync);
    }
    if (t) trim_bufs(t);
    Py_END_ALLOW_THREADS;
    if (failed_alloc) {
        Py_CLEAR(status);
        PyErr_NoMemory();
    }
done:
    PyMem_Free(ctmp);
    PyMem_Free(cpath);
    PyMem_Free(sp);
    if (src.obj) PyBuffer_Release(&src);
    if (spans.obj) PyBuffer_Release(&spans);
    Py_XDECREF(tmps);
    Py_XDECREF(paths);
    return status;
}



PyDoc_STRVAR(encode_chunks_doc,
             "encode_chunks(spans, src, chunk_shape, itemsize, codec, level, checksum, fill) -> (bytes, bytes)\n\n"
             "Encode whole chunks of ``src`` (a uint8 array of the source's shape with its last axis in bytes,\n"
             "rows contiguous, any other strides) without the GIL: ``spans`` holds int64 triples per chunk and\n"
             "axis, (0, chunk extent, source start in elements). Returns the encoded chunks back to back and\n"
             "their lengths (int64; -1 for a chunk equal to ``fill`` everywhere, which is not encoded).");

static PyObject *encode_chunks(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *spans_obj, *src_obj, *cshape_obj, *fill_obj;
    Py_ssize_t itemsize;
    int codec, level, checksum;
    if (!PyArg_ParseTuple(args, "OOOniiiO", &spans_obj, &src_obj, &cshape_obj, &itemsize, &codec, &level, &checksum,
                          &fill_obj))
        return NULL;
    Py_ssize_t cshape[MAX_NDIM];
    int ndim;
    if (as_shape(cshape_obj, cshape, &ndim, "chunk_shape") < 0) return NULL;
    if (check_codec(itemsize, codec, 1) < 0 || check_fill(fill_obj, itemsize) < 0) return NULL;
    Py_buffer spans = {0}, src = {0};
    PyObject *blob = NULL, *sizes = NULL, *result = NULL;
    long long *sp = NULL;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(src_obj, &src, PyBUF_STRIDES) < 0) goto done;
    /* rows contiguous: a last axis of length 1 may have any stride (NumPy exports one of its own
       choosing for it: the element count of the earlier axes for an F-contiguous value) */
    if (src.ndim != ndim || src.itemsize != 1 || !src.strides || (src.strides[ndim - 1] != 1 && src.shape[ndim - 1] != 1)) {
        PyErr_Format(PyExc_ValueError, "src: expected a %d-d uint8 array with contiguous rows", ndim);
        goto done;
    }
    Py_ssize_t sshape[MAX_NDIM] = {0};
    for (int d = 0; d < ndim; d++) {
        sshape[d] = src.shape[d];
        if (src.strides[d] < 0) {
            PyErr_Format(PyExc_ValueError, "src: negative strides");
            goto done;
        }
    }
    if (sshape[ndim - 1] % itemsize) {
        PyErr_Format(PyExc_ValueError, "src: rows are not whole elements");
        goto done;
    }
    sshape[ndim - 1] /= itemsize; /* in elements from here on */
    size_t nbytes = (size_t)itemsize;
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(nbytes, (size_t)cshape[d], &nbytes) || nbytes > (size_t)PY_SSIZE_T_MAX / 2) {
            PyErr_Format(PyExc_ValueError, "chunk_shape: too many bytes");
            goto done;
        }
    if (nbytes == 0) {
        PyErr_Format(PyExc_ValueError, "chunk_shape: empty chunks are not encoded here");
        goto done;
    }
    if (spans.len % (Py_ssize_t)(3 * ndim * sizeof(long long))) {
        PyErr_Format(PyExc_ValueError, "spans: expected int64 triples per axis");
        goto done;
    }
    Py_ssize_t n = spans.len / (Py_ssize_t)(3 * ndim * sizeof(long long));
    if (!(sp = copy_spans(&spans, n, ndim)) || check_whole_chunks(sp, n, ndim, cshape, sshape) < 0) goto done;
    size_t bound = codec == CODEC_ZSTD ? Z.compress_bound(nbytes) : nbytes, total;
    if (codec == CODEC_ZSTD && Z.is_error(bound)) {
        PyErr_Format(PyExc_ValueError, "chunk_shape: too large to compress");
        goto done;
    }
    if (__builtin_mul_overflow(bound, (size_t)n, &total) || total > (size_t)PY_SSIZE_T_MAX) {
        PyErr_Format(PyExc_ValueError, "too many chunks for one call");
        goto done;
    }
    sizes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(long long));
    if (!sizes) goto done;
    char *outp = NULL; /* compressed into this thread's buffer, then copied into a bytes of their size */
    long long *lens = (long long *)PyBytes_AS_STRING(sizes);
    const char *fill = fill_obj == Py_None ? NULL : PyBytes_AS_STRING(fill_obj);
    Py_ssize_t sstride[MAX_NDIM]; /* per element step: the source's last axis is in bytes */
    for (int d = 0; d < ndim; d++) sstride[d] = d == ndim - 1 ? itemsize : src.strides[d];
    int failed = 0;
    size_t used = 0;
    thread_ctx *t;
    Py_BEGIN_ALLOW_THREADS;
    t = my_ctx();
    char *scratch = t ? thread_buf(t, BUF_SCRATCH, nbytes) : NULL;
    outp = scratch ? thread_buf(t, BUF_OUT, total) : NULL;
    void *cctx = NULL;
    if (!outp) failed = 1;
    if (!failed && codec == CODEC_ZSTD && !(cctx = thread_cctx(level, checksum))) failed = 1;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        gather((const char *)src.buf, sstride, scratch, ndim, cshape, sp + 3 * ndim * i, itemsize);
        if (fill && all_fill(scratch, nbytes, fill, (size_t)itemsize)) {
            lens[i] = -1;
            continue;
        }
        if (codec == CODEC_ZSTD) {
            size_t len = Z.compress2(cctx, outp + used, bound, scratch, nbytes);
            if (Z.is_error(len)) {
                failed = 2;
                break;
            }
            lens[i] = (long long)len;
            used += len;
        } else {
            memcpy(outp + used, scratch, nbytes);
            lens[i] = (long long)nbytes;
            used += nbytes;
        }
    }
    Py_END_ALLOW_THREADS;
    if (failed == 1)
        PyErr_NoMemory();
    else if (failed == 2)
        PyErr_Format(PyExc_RuntimeError, "zstd could not compress a chunk");
    else if ((blob = PyBytes_FromStringAndSize(outp, (Py_ssize_t)used)))
        result = PyTuple_Pack(2, blob, sizes);
    if (t) trim_bufs(t);
done:
    PyMem_Free(sp);
    Py_XDECREF(blob);
    Py_XDECREF(sizes);
    if (src.obj) PyBuffer_Release(&src);
    PyBuffer_Release(&spans);
    return result;
}

/* ---- The Python path's zstd calls: the same library as the loops above (one-shot decodes and
   compression also on the same per-thread contexts; a stream decode on a context of its own:
   zstd_stream a new one per frame, zstd_frames one per chunk of several frames), so a chunk
   decodes (or fails) alike on both paths. The chunk's framing and sizes are checked in
   exzarr.codecs.bounded; these check only that `src` is one whole frame, and run the decoder
   into a buffer the caller sized. */

static PyObject *zstd_error(const char *what, size_t code) {
    return PyErr_Format(PyExc_ValueError, "zstd %s error: %s", what, Z.error_name(code));
}

/* `src` is exactly one zstd frame (its magic number; not truncated; nothing after it). */
static int one_frame(const Py_buffer *src) {
    if (src->len < 6 || le32(src->buf) != ZSTD_MAGIC)
        return 0;
    size_t n = Z.find_frame_compressed_size(src->buf, (size_t)src->len);
    return !Z.is_error(n) && n == (size_t)src->len;
}

static PyObject *not_one_frame(Py_buffer *src, Py_buffer *dst) {
    PyBuffer_Release(src);
    PyBuffer_Release(dst);
    return PyErr_Format(PyExc_ValueError, "zstd decompression error: not exactly one zstd frame");
}

/* The (src, dst) arguments of the functions below: a contiguous source and a writable contiguous
   destination, with a libzstd bound; -1 with an exception set otherwise (nothing left to release). */
static int zstd_args(PyObject *args, const char *fmt, const char *name, Py_buffer *src, Py_buffer *dst) {
    PyObject *src_obj, *dst_obj;
    if (!PyArg_ParseTuple(args, fmt, &src_obj, &dst_obj)) return -1;
    if (!zstd_bound) {
        PyErr_Format(PyExc_RuntimeError, "%s: no libzstd in use", name);
        return -1;
    }
    if (PyObject_GetBuffer(src_obj, src, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (PyObject_GetBuffer(dst_obj, dst, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(src);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(zstd_decompress_doc,
             "zstd_decompress(src, dst) -> int\n\n"
             "Decode ``src``, exactly one zstd frame, into the writable buffer ``dst`` in one call; returns the bytes written.\n"
             "ValueError when the data is corrupt or decodes to more than ``len(dst)`` bytes.");

static PyObject *zstd_decompress(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer src, dst;
    if (zstd_args(args, "OO:zstd_decompress", "zstd_decompress", &src, &dst) < 0) return NULL;
    if (!one_frame(&src)) return not_one_frame(&src, &dst);
    size_t n = 0;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS;
    void *dctx = thread_dctx();
    if (!dctx)
        nomem = 1;
    else {
        n = Z.decompress_dctx(dctx, dst.buf, (size_t)dst.len, src.buf, (size_t)src.len);
        trim_bufs(my_ctx());
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (nomem) return PyErr_NoMemory();
    if (Z.is_error(n)) return zstd_error("decompression", n);
    return PyLong_FromSize_t(n);
}

PyDoc_STRVAR(zstd_stream_doc,
             "zstd_stream(src, dst) -> int\n\n"
             "Decode ``src``, exactly one zstd frame, as a stream into the writable buffer ``dst`` until ``dst`` is full or the\n"
             "frame ends; returns the bytes written. Used for frames that do not state their size: a full ``dst`` means the\n"
             "frame may hold more. A new context each call; the window is limited to zstd's default (2**27 bytes).\n"
             "ValueError when the data is corrupt.");

static PyObject *zstd_stream(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer src, dst;
    if (zstd_args(args, "OO:zstd_stream", "zstd_stream", &src, &dst) < 0) return NULL;
    if (!one_frame(&src)) return not_one_frame(&src, &dst);
    size_t err = 0;
    int nomem = 0;
    zstd_in in = {src.buf, (size_t)src.len, 0};
    zstd_out out = {dst.buf, (size_t)dst.len, 0};
    Py_BEGIN_ALLOW_THREADS;
    /* a new context for each stream: a reused one keeps the history buffer of earlier (larger)
       windows, and matches reaching past this frame's declared window would then decode or not
       depending on what the thread decoded before (a new one refuses them, as numcodecs does for
       a chunk of one frame; zstd_frames keeps one context per chunk of several frames, as
       numcodecs' one stream does) */
    void *dctx = Z.create_dctx();
    if (!dctx)
        nomem = 1;
    else {
        while (out.pos < out.size) {
            size_t r = Z.decompress_stream(dctx, &out, &in);
            if (Z.is_error(r)) {
                err = r;
                break;
            }
            if (r == 0 || (in.pos == in.size && out.pos < out.size)) break; /* the frame ended (or is truncated) */
        }
        Z.free_dctx(dctx);
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (nomem) return PyErr_NoMemory();
    if (Z.is_error(err)) return zstd_error("decompression", err);
    return PyLong_FromSize_t(out.pos);
}

#define ZSTD_SKIPPABLE 0x184D2A50u
#define ZSTD_SIZE_UNKNOWN (0ULL - 1)
#define ZSTD_SIZE_ERROR (0ULL - 2)

PyDoc_STRVAR(zstd_frames_doc,
             "zstd_frames(src, dst) -> int\n\n"
             "Decode ``src``, whole zstd frames and skippable frames (at least one zstd frame) and nothing else, into the\n"
             "writable buffer ``dst``, each frame after the one before; returns the bytes written, or -1 when the frames\n"
             "hold more than ``len(dst)`` bytes. A frame that states its size is checked against what is left of ``dst``\n"
             "and decoded in one call; one that does not is decoded as a stream on one context per call, reset between\n"
             "frames (the window limited to 2**27 bytes). ValueError when a frame is corrupt or the bytes are not whole\n"
             "frames.");

static PyObject *zstd_frames(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer src, dst;
    if (zstd_args(args, "OO:zstd_frames", "zstd_frames", &src, &dst) < 0) return NULL;
    const unsigned char *p = src.buf;
    size_t len = (size_t)src.len, cap = (size_t)dst.len, pos = 0, out = 0, rest = 0, code = 0, skip = 0;
    unsigned long long stated = 0;
    size_t nframes = 0;
    enum { OK_, OVER, NOMEM, SKIP, NOT_FRAME, AFTER, NONE, CORRUPT, SIZE, SHORT } why = OK_;
    void *sctx = NULL;
    Py_BEGIN_ALLOW_THREADS;
    void *dctx = thread_dctx();
    if (!dctx) why = NOMEM;
    while (why == OK_ && pos < len) {
        rest = len - pos;
        const unsigned char *f = p + pos;
        uint32_t magic = rest >= 4 ? le32(f) : 0;
        if (rest >= 8 && (magic & 0xFFFFFFF0u) == ZSTD_SKIPPABLE) {
            skip = (size_t)le32(f + 4) + 8;
            if (skip > rest) why = SKIP;
            else pos += skip;
            continue;
        }
        size_t fsize = rest >= 6 && magic == ZSTD_MAGIC ? Z.find_frame_compressed_size(f, rest) : 0;
        if (!fsize || Z.is_error(fsize)) { /* (fsize 0: not a frame's magic number) */
            code = fsize;
            why = nframes ? AFTER : NOT_FRAME;
            break;
        }
        stated = Z.frame_content_size(f, fsize);
        if (stated == ZSTD_SIZE_ERROR) {
            why = nframes ? AFTER : NOT_FRAME;
            break;
        }
        nframes++;
        if (stated != ZSTD_SIZE_UNKNOWN) {
            if (stated > cap - out) {
                why = OVER;
                break;
            }
            size_t r = Z.decompress_dctx(dctx, (char *)dst.buf + out, (size_t)stated, f, fsize);
            if (Z.is_error(r)) {
                code = r;
                why = CORRUPT;
            } else if (r != stated) {
                code = r;
                why = SIZE;
            } else
                out += r;
            if (why != OK_) break; /* (pos stays at the frame at fault) */
        } else {
            /* one stream context for the frames of this chunk (new for each chunk, reset between
               its frames, so the outcome depends on this chunk alone): a new context per frame
               allocated the declared window again for each (2 s per MiB of tiny frames declaring
               2**27). As numcodecs' one stream, a frame may then use the history a larger
               earlier frame of the chunk left (the Python walk of the fallback refuses that). */
            if (sctx ? Z.is_error(Z.dctx_reset(sctx, ZSTD_RESET_SESSION_ONLY)) : !(sctx = Z.create_dctx())) {
                why = NOMEM;
                break;
            }
            zstd_in in = {f, fsize, 0};
            zstd_out o = {(char *)dst.buf + out, cap - out, 0};
            size_t r; /* (at least one call: an empty frame decodes to nothing, even when no room is left) */
            do
                r = Z.decompress_stream(sctx, &o, &in);
            while (!Z.is_error(r) && r != 0 && in.pos < in.size && o.pos < o.size);
            if (Z.is_error(r)) {
                code = r;
                why = CORRUPT;
            } else if (r != 0) /* the output is full before the frame ends, or the frame stops short */
                why = o.pos == o.size ? OVER : SHORT;
            else
                out += o.pos;
            if (why != OK_) break;
        }
        pos += fsize;
    }
    if (why == OK_ && !nframes) why = NONE;
    if (sctx) Z.free_dctx(sctx);
    trim_bufs(my_ctx());
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    switch (why) {
    case OK_:
        return PyLong_FromSize_t(out);
    case OVER:
        return PyLong_FromLong(-1);
    case NOMEM:
        return PyErr_NoMemory();
    case SKIP:
        return PyErr_Format(PyExc_ValueError, "zstd chunk has a skippable frame of %zu bytes in its last %zu", skip, rest);
    case NOT_FRAME:
        return PyErr_Format(PyExc_ValueError, "not a zstd frame (%s)",
                            code && Z.is_error(code) ? Z.error_name(code) : "bad magic number or header");
    case AFTER:
        return PyErr_Format(PyExc_ValueError, "zstd chunk has %zu bytes after its frames that are not a frame", rest);
    case NONE:
        return PyErr_Format(PyExc_ValueError, "zstd chunk holds no zstd frame");
    case SHORT:
        return PyErr_Format(PyExc_ValueError, "zstd decompression error: the frame at byte %zu ends early", pos);
    case SIZE:
        return PyErr_Format(PyExc_ValueError, "zstd frame at byte %zu decodes to %zu bytes, its header says %llu", pos,
                            code, stated);
    default:
        return PyErr_Format(PyExc_ValueError, "zstd decompression error: %s (frame at byte %zu)", Z.error_name(code), pos);
    }
}

PyDoc_STRVAR(zstd_compress_doc,
             "zstd_compress(src, level, checksum) -> bytes\n\n"
             "One zstd frame of ``src`` at ``level``, stating its content size, with a checksum if ``checksum``: the\n"
             "frames the C writer makes.");

static PyObject *zstd_compress(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer src;
    int level, checksum;
    if (!PyArg_ParseTuple(args, "y*ip:zstd_compress", &src, &level, &checksum)) return NULL;
    if (!zstd_enc_ok) {
        PyBuffer_Release(&src);
        return PyErr_Format(PyExc_RuntimeError, "zstd_compress: no libzstd in use");
    }
    size_t bound = Z.compress_bound((size_t)src.len);
    PyObject *out = Z.is_error(bound) || bound > PY_SSIZE_T_MAX ? NULL : PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bound);
    if (!out) {
        PyBuffer_Release(&src);
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "zstd_compress: %zd bytes are too many", src.len);
    }
    size_t n = 0;
    int nomem = 0;
    char *dst = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS;
    void *cctx = thread_cctx(level, checksum);
    if (!cctx)
        nomem = 1;
    else {
        n = Z.compress2(cctx, dst, bound, src.buf, (size_t)src.len);
        trim_bufs(my_ctx());
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&src);
    if (nomem || Z.is_error(n)) {
        Py_DECREF(out);
        return nomem ? PyErr_NoMemory() : zstd_error("compression", n);
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)n) < 0) return NULL;
    return out;
}

static PyMethodDef methods[] = {
    {"read_ranges", read_ranges, METH_VARARGS, read_ranges_doc},
    {"use_zstd", use_zstd, METH_O, use_zstd_doc},
    {"read_grid", read_grid, METH_VARARGS, read_grid_doc},
    {"write_chunks", write_chunks, METH_VARARGS, write_chunks_doc},
    {"encode_chunks", encode_chunks, METH_VARARGS, encode_chunks_doc},
    {"zstd_decompress", zstd_decompress, METH_VARARGS, zstd_decompress_doc},
    {"zstd_stream", zstd_stream, METH_VARARGS, zstd_stream_doc},
    {"zstd_frames", zstd_frames, METH_VARARGS, zstd_frames_doc},
    {"zstd_compress", zstd_compress, METH_VARARGS, zstd_compress_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "exzarr._native", "Local chunk reads without the GIL (see exzarr.engine.native).", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    if (!ctx_key_ok) ctx_key_ok = pthread_key_create(&ctx_key, free_thread_ctx) == 0;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "CODEC_RAW", CODEC_RAW) < 0 ||
        PyModule_AddIntConstant(m, "CODEC_ZSTD", CODEC_ZSTD) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
