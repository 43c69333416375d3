/* SPDX-License-Identifier: MIT */
/*
 * FUSE over io_uring: see fuse_uring.h.
 *
 * Each queue thread owns its ring and is the only one to submit on it.  A
 * request it reads is handled on the spot, or, if it may sleep, by a worker
 * (fuse_uring_offload.c).  Either way the reply comes back through the
 * session's writev hook with the thread-local "current entry" naming the
 * ring entry it belongs to: on the queue thread the hook queues the COMMIT
 * at once; on a worker it hands the entry to the queue thread through a list
 * and the queue's eventfd, whose read is always pending on the ring.  Only
 * the queue thread submits because the kernel runs a ring command's
 * completion work in the task that submitted it, and a command left behind
 * by a worker that exits is cancelled.
 */
#define FUSE_USE_VERSION 34

#include "fuse_uring.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "fuse_killpriv.h"
#include "fuse_uring_offload.h"

/* Protocol 7.42's ring interface, which Debian 12's kernel headers (7.38)
 * predate; the layouts are the kernel's include/uapi/linux/fuse.h. */
#define URING_INIT_FLAG2	   (1u << (41 - 32)) /* FUSE_OVER_IO_URING, in flags2 */
#define URING_INIT_EXT		   (1u << 30)	     /* FUSE_INIT_EXT: flags2 is valid */
#define URING_CMD_REGISTER	   1u
#define URING_CMD_COMMIT_AND_FETCH 2u
#define URING_ENABLE_PARAM	   "/sys/module/fuse/parameters/enable_uring"

struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's, to commit its reply with */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[128]; /* fuse_in_header, then fuse_out_header */
	char op_in[128];  /* the opcode's own header */
	struct uring_ent_in_out ent_in_out;
};

struct uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
_Static_assert(sizeof(struct uring_cmd_req) <= 80, "the SQE128 command area is 80 bytes");

/* Entries per queue.  A request that sleeps keeps its entry until it
 * replies, so a queue must have entries to spare for the requests that
 * wake the sleepers (tests/stress/worker_starvation.sh has 12 sleep at
 * once).  Each entry's payload buffer is mapped lazily. */
#define QUEUE_DEPTH 32u
/* Room in front of the payload for the in-header and the opcode's header:
 * the request is laid out there contiguously, without copying the payload. */
#define HEAD_ROOM 4096u
#define EVENT_TAG ((uint64_t)-1)

struct uring_queue;

struct uring_ent {
	struct uring_queue *q;
	struct uring_req_header *hdr;
	char *area; /* HEAD_ROOM, then the payload buffer */
	struct iovec iov[2];
	struct fuse_buf buf; /* the request as /dev/fuse delivers it */
	uint64_t commit_id, unique;
	unsigned last_cmd;
	struct uring_ent *next_done;
};

struct uring_queue {
	unsigned qid;
	int efd;
	uint64_t efd_val;
	struct io_uring ring;
	bool ring_ok;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t done_lock;
	struct uring_ent *done; /* replied on workers, to commit */
	struct uring_ent ents[QUEUE_DEPTH];
};

enum init_state {
	INIT_WAITING,  /* no INIT reply yet */
	INIT_URING,    /* the reply asked for io_uring */
	INIT_DEV,      /* it did not */
	INIT_STOPPING, /* the daemon is going away */
};

static struct {
	enum daxfs_transport_mode mode;
	bool stable_writes_wait;
	struct fuse_session *se;
	int fd;
	unsigned nqueues;
	struct uring_queue *queues;
	size_t payload_size;
	_Atomic uint64_t init_unique; /* of the INIT request; 0 once answered */
	_Atomic bool offered;	      /* the kernel offered io_uring in INIT */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum init_state init;	   /* under lock */
	unsigned reported, failed; /* queues done registering, under lock */
	int first_err;
	_Atomic bool active;
	_Atomic bool refused; /* transport=uring could not be had */
	_Atomic bool stopping;
} tr = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .fd = -1,
};

/* The entry whose request this thread is handling, and the queue this
 * thread serves (none on workers and the classic loop's threads). */
static _Thread_local struct uring_ent *cur_ent;
static _Thread_local struct uring_queue *cur_queue;

int daxfs_transport_parse(const char *name, enum daxfs_transport_mode *mode)
{
	if (!strcmp(name, "auto"))
		*mode = DAXFS_TRANSPORT_AUTO;
	else if (!strcmp(name, "uring"))
		*mode = DAXFS_TRANSPORT_URING;
	else if (!strcmp(name, "dev"))
		*mode = DAXFS_TRANSPORT_DEV;
	else
		return -1;
	return 0;
}

static bool uring_enabled_in_kernel(void)
{
	char c = 0;
	int fd = open(URING_ENABLE_PARAM, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

int daxfs_fuse_uring_check(enum daxfs_transport_mode mode, char *err, size_t errlen)
{
	struct io_uring_params p = {.flags = IORING_SETUP_SQE128};
	struct io_uring ring;
	int rc;

	if (mode != DAXFS_TRANSPORT_URING)
		return 0;
	if (access(URING_ENABLE_PARAM, F_OK) != 0) {
		snprintf(err, errlen,
			 "transport=uring: this kernel has no FUSE over io_uring (%s is missing)",
			 URING_ENABLE_PARAM);
		return -1;
	}
	if (!uring_enabled_in_kernel()) {
		snprintf(err, errlen,
			 "transport=uring: FUSE over io_uring is off (as root: echo Y > %s)",
			 URING_ENABLE_PARAM);
		return -1;
	}
	rc = io_uring_queue_init_params(2, &ring, &p);
	if (rc < 0) {
		snprintf(err, errlen, "transport=uring: cannot create an io_uring: %s",
			 strerror(-rc));
		return -1;
	}
	io_uring_queue_exit(&ring);
	return 0;
}

void daxfs_fuse_uring_configure(enum daxfs_transport_mode mode, bool stable_writes_wait)
{
	tr.mode = mode;
	tr.stable_writes_wait = stable_writes_wait;
}

bool daxfs_fuse_uring_active(void)
{
	return atomic_load(&tr.active);
}

bool daxfs_fuse_uring_refused(void)
{
	return atomic_load(&tr.refused);
}

/* transport=uring and no io_uring: stop the daemon as a signal would. */
static void refuse(void)
{
	atomic_store(&tr.refused, true);
	fuse_session_exit(tr.se);
	kill(getpid(), SIGTERM);
}

/* ---- INIT ------------------------------------------------------------------------ */

void daxfs_fuse_uring_note_request(const void *buf, ssize_t n)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *init = (const void *)(in + 1);

	if (n < (ssize_t)(sizeof(*in) + sizeof(*init)) || in->opcode != FUSE_INIT)
		return;
	atomic_store(&tr.offered,
		     (init->flags & URING_INIT_EXT) && (init->flags2 & URING_INIT_FLAG2));
	atomic_store(&tr.init_unique, in->unique);
}

static size_t payload_size_of(const struct fuse_init_out *o)
{
	size_t pages = (o->flags & FUSE_MAX_PAGES) ? o->max_pages : 32;
	size_t sz = pages * (size_t)sysconf(_SC_PAGESIZE);

	if (sz < o->max_write)
		sz = o->max_write;
	return sz < 8192 ? 8192 : sz;
}

/* Returns whether the reply asks for io_uring. */
static bool patch_init_reply(struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;

	if (tr.mode == DAXFS_TRANSPORT_DEV || !atomic_load(&tr.offered) || out->error ||
	    count < 2 || iov[1].iov_len < offsetof(struct fuse_init_out, flags2) + sizeof(uint32_t))
		return false;
	struct fuse_init_out *o = iov[1].iov_base;
	o->flags |= URING_INIT_EXT;
	o->flags2 |= URING_INIT_FLAG2;
	tr.payload_size = payload_size_of(o);
	return true;
}

static void set_init_state(enum init_state s)
{
	pthread_mutex_lock(&tr.lock);
	if (tr.init == INIT_WAITING)
		tr.init = s;
	pthread_cond_broadcast(&tr.cond);
	pthread_mutex_unlock(&tr.lock);
}

static void init_answered(bool asked, bool written)
{
	if (asked && written) {
		set_init_state(INIT_URING);
		return;
	}
	set_init_state(INIT_DEV);
	if (tr.mode == DAXFS_TRANSPORT_DEV)
		fuse_log(FUSE_LOG_NOTICE, "daxfs: transport: /dev/fuse (-o transport=dev)\n");
	else
		fuse_log(tr.mode == DAXFS_TRANSPORT_URING ? FUSE_LOG_ERR : FUSE_LOG_NOTICE,
			 "daxfs: transport: /dev/fuse (the kernel does not offer io_uring: %s is "
			 "not Y)\n",
			 URING_ENABLE_PARAM);
	if (tr.mode == DAXFS_TRANSPORT_URING) {
		/* Asked for and refused: no mount on the other transport. */
		refuse();
	}
}

/* ---- Ring commands --------------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct uring_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	/* One command per entry and the eventfd read: the ring has room for
	 * them all, but submit and retry rather than trust that. */
	while (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* Locking: on the queue thread. */
static void queue_cmd(struct uring_queue *q, struct uring_ent *e, unsigned cmd)
{
	struct io_uring_sqe *sqe = get_sqe(q);
	struct uring_cmd_req *r;

	memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->fd = 0;
	sqe->cmd_op = cmd;
	sqe->user_data = (uint64_t)(uintptr_t)e;
	if (cmd == URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	}
	r = (struct uring_cmd_req *)sqe->cmd;
	r->qid = (uint16_t)q->qid;
	r->commit_id = cmd == URING_CMD_COMMIT_AND_FETCH ? e->commit_id : 0;
	e->last_cmd = cmd;
}

/* Locking: on the queue thread. */
static void queue_event_read(struct uring_queue *q)
{
	struct io_uring_sqe *sqe = get_sqe(q);

	io_uring_prep_read(sqe, q->efd, &q->efd_val, sizeof(q->efd_val), 0);
	sqe->user_data = EVENT_TAG;
}

/* A reply made on a worker goes to the queue thread to be committed. */
static void hand_to_queue(struct uring_ent *e)
{
	struct uring_queue *q = e->q;
	uint64_t one = 1;

	pthread_mutex_lock(&q->done_lock);
	e->next_done = q->done;
	q->done = e;
	pthread_mutex_unlock(&q->done_lock);
	if (write(q->efd, &one, sizeof(one)) != sizeof(one))
		fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: eventfd: %s\n", q->qid,
			 strerror(errno));
}

static void commit(struct uring_ent *e)
{
	if (cur_queue == e->q)
		queue_cmd(e->q, e, URING_CMD_COMMIT_AND_FETCH);
	else
		hand_to_queue(e);
}

/* ---- Replies ---------------------------------------------------------------------- */

/* Once committed the entry may carry the next request at any moment: this
 * thread lets go of it first. */
static void reply_done(struct uring_ent *e)
{
	if (cur_ent == e)
		cur_ent = NULL;
	commit(e);
}

static void reply_error(struct uring_ent *e, int err)
{
	struct fuse_out_header *out = (struct fuse_out_header *)e->hdr->in_out;

	out->len = sizeof(*out);
	out->error = -err;
	out->unique = e->unique;
	e->hdr->ent_in_out.payload_sz = 0;
	reply_done(e);
}

/*
 * A read's reply points into pool blocks that writers may be storing to.
 * The kernel's copy from /dev/fuse moves aligned words whole, so a reader
 * sees each 8-byte store whole or not at all; glibc's memmove may copy a
 * page byte by byte (rep movsb) and hand over half of a word.  Aligned
 * data is copied a word at a time (volatile: not turned back into a
 * memcpy); anything else, and a reply that quotes its request from the
 * same buffer, with memmove.
 */
static void copy_reply_data(char *dst, const char *src, size_t len)
{
	if ((((uintptr_t)dst | (uintptr_t)src | len) & 7) || (src < dst + len && dst < src + len)) {
		memmove(dst, src, len);
		return;
	}
	volatile uint64_t *d = (volatile uint64_t *)(void *)dst;
	const volatile uint64_t *s = (const volatile uint64_t *)(const void *)src;
	for (size_t i = 0; i < len / 8; i++)
		d[i] = s[i];
}

/* The reply to e's request, as libfuse would write it to /dev/fuse:
 * the out-header goes to the entry's header, the rest to its payload. */
static ssize_t ring_reply(struct uring_ent *e, const struct iovec *iov, int count)
{
	char *payload = e->area + HEAD_ROOM;
	size_t total = 0, at = 0;

	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	if (total - sizeof(struct fuse_out_header) > tr.payload_size) {
		fuse_log(FUSE_LOG_ERR, "daxfs: a %zu-byte reply does not fit the ring buffer\n",
			 total);
		reply_error(e, EIO);
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < count; i++) {
		const char *src = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		if (at < sizeof(struct fuse_out_header)) {
			size_t h = sizeof(struct fuse_out_header) - at;
			if (h > len)
				h = len;
			memcpy(e->hdr->in_out + at, src, h);
			at += h;
			src += h;
			len -= h;
		}
		copy_reply_data(payload + at - sizeof(struct fuse_out_header), src, len);
		at += len;
	}
	e->hdr->ent_in_out.payload_sz = (uint32_t)(total - sizeof(struct fuse_out_header));
	reply_done(e);
	return (ssize_t)total;
}

ssize_t daxfs_fuse_uring_writev(int fd, struct iovec *iov, int count)
{
	const struct fuse_out_header *out = count ? iov[0].iov_base : NULL;
	struct uring_ent *e = cur_ent;
	bool init_reply, asked = false;

	if (!out || iov[0].iov_len < sizeof(*out))
		return writev(fd, iov, count);
	/* Notifications (unique 0) and replies to /dev/fuse requests go to
	 * /dev/fuse, even when made while a ring request is handled. */
	if (e && out->unique == e->unique)
		return ring_reply(e, iov, count);
	init_reply = out->unique && out->unique == atomic_load(&tr.init_unique);
	if (init_reply)
		asked = patch_init_reply(iov, count);
	ssize_t n = writev(fd, iov, count);
	if (init_reply) {
		int err = errno;
		atomic_store(&tr.init_unique, 0);
		init_answered(asked, n >= 0);
		errno = err;
	}
	return n;
}

/* ---- Requests --------------------------------------------------------------------- */

/* On the queue thread or a worker. */
static void process(struct uring_ent *e)
{
	cur_ent = e;
	daxfs_fuse_killpriv_note_request(e->buf.mem, (ssize_t)e->buf.size);
	fuse_session_process_buf(tr.se, &e->buf);
	/* Every request that comes through a ring expects a reply: one
	 * missing would hold the entry, and the caller, for ever. */
	if (cur_ent == e) {
		fuse_log(FUSE_LOG_ERR, "daxfs: io_uring request %llu got no reply\n",
			 (unsigned long long)e->unique);
		reply_error(e, EIO);
	}
}

static void run_offloaded(void *job)
{
	process(job);
}

/* Lays the request out as /dev/fuse delivers it, [in-header][opcode's
 * header][payload], right in front of the payload the kernel wrote. */
static void dispatch(struct uring_queue *q, struct uring_ent *e)
{
	const struct fuse_in_header *in = (const void *)e->hdr->in_out;
	uint32_t payload = e->hdr->ent_in_out.payload_sz;
	size_t op;

	e->commit_id = e->hdr->ent_in_out.commit_id;
	e->unique = in->unique;
	if (in->len < sizeof(*in) + payload || payload > tr.payload_size ||
	    (op = in->len - sizeof(*in) - payload) > sizeof(e->hdr->op_in)) {
		fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: malformed request (%u bytes)\n",
			 q->qid, in->len);
		reply_error(e, EIO);
		return;
	}
	char *start = e->area + HEAD_ROOM - op - sizeof(*in);
	memcpy(start, in, sizeof(*in));
	memcpy(start + sizeof(*in), e->hdr->op_in, op);
	e->buf = (struct fuse_buf){.size = in->len, .mem = start, .fd = -1};
	if (uring_offload_wanted(in, e->hdr->op_in, tr.stable_writes_wait))
		uring_offload_queue(e);
	else
		process(e);
}

/* Locking: on the queue thread. */
static void commit_handed(struct uring_queue *q)
{
	pthread_mutex_lock(&q->done_lock);
	struct uring_ent *e = q->done;
	q->done = NULL;
	pthread_mutex_unlock(&q->done_lock);
	while (e) {
		struct uring_ent *next = e->next_done;
		queue_cmd(q, e, URING_CMD_COMMIT_AND_FETCH);
		e = next;
	}
}

/* Returns false once the queue is to stop. */
static bool handle_cqe(struct uring_queue *q, const struct io_uring_cqe *cqe)
{
	if (cqe->user_data == EVENT_TAG) {
		commit_handed(q);
		if (atomic_load(&tr.stopping))
			return false;
		/* A read that keeps failing would spin: the queue stops, and
		 * the log says why. */
		if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -EAGAIN) {
			fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: eventfd read: %s\n",
				 q->qid, strerror(-cqe->res));
			return false;
		}
		queue_event_read(q);
		return true;
	}
	struct uring_ent *e = (void *)(uintptr_t)cqe->user_data;
	switch (cqe->res) {
	case 0:
		dispatch(q, e);
		break;
	case -EAGAIN:
	case -EINTR:
		queue_cmd(q, e, e->last_cmd);
		break;
	case -ENOTCONN: /* unmounted */
	case -ECANCELED:
		break;
	default:
		fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: %s\n", q->qid,
			 strerror(-cqe->res));
		break;
	}
	return true;
}

static void serve(struct uring_queue *q)
{
	bool going = true;

	while (going) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int rc = io_uring_submit_and_wait(&q->ring, 1);

		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: %s\n", q->qid,
				 strerror(-rc));
			break;
		}
		io_uring_for_each_cqe(&q->ring, head, cqe)
		{
			n++;
			if (!handle_cqe(q, cqe))
				going = false;
		}
		io_uring_cq_advance(&q->ring, n);
	}
}

/* ---- Queues ----------------------------------------------------------------------- */

static int queue_alloc(struct uring_queue *q)
{
	size_t hdr_size = (sizeof(struct uring_req_header) + 4095) & ~(size_t)4095;

	for (unsigned i = 0; i < QUEUE_DEPTH; i++) {
		struct uring_ent *e = &q->ents[i];
		e->q = q;
		e->hdr = aligned_alloc(4096, hdr_size);
		if (!e->hdr)
			return -ENOMEM;
		memset(e->hdr, 0, hdr_size);
		e->area = mmap(NULL, HEAD_ROOM + tr.payload_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (e->area == MAP_FAILED) {
			e->area = NULL;
			return -ENOMEM;
		}
		e->iov[0] = (struct iovec){e->hdr, sizeof(struct uring_req_header)};
		e->iov[1] = (struct iovec){e->area + HEAD_ROOM, tr.payload_size};
	}
	return 0;
}

/* A REGISTER the kernel refuses (io_uring turned off since INIT, say)
 * completes at once: look for that before reporting success. */
static int queue_register(struct uring_queue *q)
{
	struct io_uring_params p = {
	    .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
	    .cq_entries = 2 * (QUEUE_DEPTH + 1),
	};
	struct io_uring_cqe *cqe;
	int rc;

	rc = queue_alloc(q);
	if (rc)
		return rc;
	rc = io_uring_queue_init_params(QUEUE_DEPTH + 1, &q->ring, &p);
	if (rc < 0)
		return rc;
	q->ring_ok = true;
	rc = io_uring_register_files(&q->ring, &tr.fd, 1);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < QUEUE_DEPTH; i++)
		queue_cmd(q, &q->ents[i], URING_CMD_REGISTER);
	queue_event_read(q);
	rc = io_uring_submit(&q->ring);
	if (rc < 0)
		return rc;
	if (io_uring_peek_cqe(&q->ring, &cqe) == 0 && cqe->user_data != EVENT_TAG && cqe->res < 0)
		return cqe->res;
	return 0;
}

static void report_registered(struct uring_queue *q, int rc)
{
	pthread_mutex_lock(&tr.lock);
	if (rc && !tr.failed++)
		tr.first_err = rc;
	if (++tr.reported == tr.nqueues) {
		if (!tr.failed) {
			atomic_store(&tr.active, true);
			fuse_log(FUSE_LOG_NOTICE,
				 "daxfs: transport: io_uring (%u queues of %u entries)\n",
				 tr.nqueues, QUEUE_DEPTH);
		} else if (tr.mode == DAXFS_TRANSPORT_URING) {
			fuse_log(FUSE_LOG_ERR, "daxfs: transport=uring: io_uring refused: %s\n",
				 strerror(-tr.first_err));
			refuse();
		} else {
			fuse_log(FUSE_LOG_NOTICE,
				 "daxfs: transport: /dev/fuse (io_uring refused: %s)\n",
				 strerror(-tr.first_err));
		}
	}
	pthread_cond_broadcast(&tr.cond);
	pthread_mutex_unlock(&tr.lock);
	(void)q;
}

/* Waits until every queue has reported; whether all of them registered. */
static bool all_registered(void)
{
	pthread_mutex_lock(&tr.lock);
	while (tr.reported < tr.nqueues && tr.init != INIT_STOPPING)
		pthread_cond_wait(&tr.cond, &tr.lock);
	bool ok = tr.reported == tr.nqueues && !tr.failed;
	pthread_mutex_unlock(&tr.lock);
	return ok;
}

static enum init_state wait_init(void)
{
	pthread_mutex_lock(&tr.lock);
	while (tr.init == INIT_WAITING)
		pthread_cond_wait(&tr.cond, &tr.lock);
	enum init_state s = tr.init;
	pthread_mutex_unlock(&tr.lock);
	return s;
}

/* Requests come to a queue from the tasks on its CPU: serve them there. */
static void bind_to_cpu(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *queue_thread(void *arg)
{
	struct uring_queue *q = arg;
	char name[16];

	snprintf(name, sizeof(name), "daxfs-ring%u", q->qid);
	pthread_setname_np(pthread_self(), name);
	cur_queue = q;
	if (wait_init() != INIT_URING)
		return NULL;
	bind_to_cpu(q->qid);
	report_registered(q, queue_register(q));
	/* One queue short and the kernel never switches: nothing to serve. */
	if (!all_registered())
		return NULL;
	serve(q);
	return NULL;
}

static void queue_free(struct uring_queue *q)
{
	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	for (unsigned i = 0; i < QUEUE_DEPTH; i++) {
		free(q->ents[i].hdr);
		if (q->ents[i].area)
			munmap(q->ents[i].area, HEAD_ROOM + tr.payload_size);
	}
	if (q->efd >= 0)
		close(q->efd);
	pthread_mutex_destroy(&q->done_lock);
}

/* ---- Start and stop --------------------------------------------------------------- */

int daxfs_fuse_uring_start(struct fuse_session *se)
{
	sigset_t all, old;
	int rc = 0;

	tr.se = se;
	tr.fd = fuse_session_fd(se);
	if (tr.mode == DAXFS_TRANSPORT_DEV)
		return 0;
	tr.nqueues = (unsigned)get_nprocs_conf();
	tr.queues = calloc(tr.nqueues, sizeof(*tr.queues));
	if (!tr.queues)
		return -ENOMEM;
	for (unsigned i = 0; i < tr.nqueues; i++) {
		struct uring_queue *q = &tr.queues[i];
		q->qid = i;
		pthread_mutex_init(&q->done_lock, NULL);
		q->efd = eventfd(0, EFD_CLOEXEC);
		if (q->efd < 0)
			return -errno;
	}
	rc = uring_offload_start(run_offloaded);
	if (rc)
		return rc;
	/* The stop signals stay with the session loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < tr.nqueues && !rc; i++) {
		rc = -pthread_create(&tr.queues[i].thread, NULL, queue_thread, &tr.queues[i]);
		tr.queues[i].thread_started = !rc;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void daxfs_fuse_uring_stop(void)
{
	uint64_t one = 1;

	if (!tr.queues)
		return;
	atomic_store(&tr.stopping, true);
	pthread_mutex_lock(&tr.lock);
	tr.init = INIT_STOPPING;
	pthread_cond_broadcast(&tr.cond);
	pthread_mutex_unlock(&tr.lock);
	for (unsigned i = 0; i < tr.nqueues; i++) {
		struct uring_queue *q = &tr.queues[i];
		if (!q->thread_started)
			continue;
		if (write(q->efd, &one, sizeof(one)) != sizeof(one))
			fuse_log(FUSE_LOG_ERR, "daxfs: io_uring queue %u: eventfd: %s\n", q->qid,
				 strerror(errno));
		pthread_join(q->thread, NULL);
	}
	/* Workers still running reply into entries no one commits: the
	 * connection is gone by now. */
	uring_offload_stop();
	for (unsigned i = 0; i < tr.nqueues; i++)
		queue_free(&tr.queues[i]);
	free(tr.queues);
	tr.queues = NULL;
	atomic_store(&tr.active, false);
}
