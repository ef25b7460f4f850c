/* squall-spawn: starts the processes of a sandbox for its supervisor (supervisor.py).
 *
 * Why a C program: under gVisor's ptrace platform every system call costs 20-60 us, and a
 * process started by CPython (_posixsubprocess, or glibc's posix_spawn) makes ~63 rt_sigaction
 * calls in its vfork child, resetting signal handlers that this program never installs. Here a
 * start is a dozen calls. Built static by the worker (squall/worker/supervisor_dir.py), so it runs
 * in any image; where no C compiler is found, the supervisor starts processes itself.
 *
 * It starts the sandbox: `squall-spawn --init python3 ... supervisor` (the sandbox's main process)
 * starts its server (a clone sharing its memory) on a new SOCK_SEQPACKET socketpair, then execs the
 * supervisor, with the other end as fd 3 and two more arguments: "3" and the server's pid. So the supervisor stays
 * the sandbox's init (which user code cannot kill), and this program is started without a start by
 * CPython. (`squall-spawn FD` serves a socket it was given instead: the unit tests start it so.) It
 * exits when the supervisor's end closes. User code can kill it (`kill -9 -1`): the supervisor then
 * reaps what it had started, and starts processes itself.

 * Requests, one a message: struct request_header, then NUL-terminated strings (the working dir,
 * argc arguments, envc "NAME=value" pairs), with exactly 3 fds (stdin, stdout, stderr) in
 * SCM_RIGHTS. Replies, 4 int32s each:
 * - REPLY_STARTED answers each request at once: the new pid, or pid -1 with the errno and stage
 *   that failed (a bad request, or clone() failed);
 * - REPLY_FAILED follows it when the new process could not exec: its pid, errno and stage (the
 *   working dir, the program...); it then exits with 127;
 * - REPLY_EXITED: a process it started ended, with its raw wait status.
 *
 * Each process is started with clone(CLONE_VM): no copy of this address space. Its start is answered
 * at once, so the supervisor knows the pid before the process runs; the next request is read only
 * once the child's execve took or failed (the end of a close-on-exec pipe), as until then it runs
 * in this program's memory. The child becomes the leader of a new session, with an empty signal
 * mask and default dispositions (this program changes none).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REQUEST (256 * 1024)
#define MAX_STRINGS 8192
#define FLAG_TERMINAL 1u /* make the terminal on stdin the controlling terminal */
#define DEFAULT_PATH "/bin:/usr/bin" /* what Python's os.defpath searches when PATH is unset */

enum { REPLY_STARTED = 0, REPLY_EXITED = 1, REPLY_FAILED = 2 };
enum { STAGE_OK, STAGE_REQUEST, STAGE_STDIO, STAGE_SESSION, STAGE_TERMINAL, STAGE_CWD, STAGE_EXEC, STAGE_CLONE };

struct request_header {
	uint32_t flags, argc, envc;
};

struct reply {
	int32_t kind, pid, err, stage; /* REPLY_EXITED: err holds the wait status */
};

struct job {
	int fds[3];
	uint32_t flags;
	const char *cwd, *path;
	char **argv, **envp;
	volatile int err, stage; /* written by the child, which shares this memory */
	char exe[4096];
};

static char request[MAX_REQUEST + 1];
static char *strings[MAX_STRINGS + 2];
static char child_stack[64 * 1024] __attribute__((aligned(16)));
static char server_stack[64 * 1024] __attribute__((aligned(16)));
static sigset_t empty_mask;

static void fail(struct job *j, int stage) {
	j->err = errno;
	j->stage = stage;
	_exit(127);
}

static int child(void *arg) {
	struct job *j = arg;
	for (int i = 0; i < 3; i++)
		if (dup2(j->fds[i], i) < 0) fail(j, STAGE_STDIO);
	if (setsid() < 0) fail(j, STAGE_SESSION);
	if ((j->flags & FLAG_TERMINAL) && ioctl(0, TIOCSCTTY, 0) < 0) fail(j, STAGE_TERMINAL);
	if (chdir(j->cwd) < 0) fail(j, STAGE_CWD);
	if (sigprocmask(SIG_SETMASK, &empty_mask, NULL) < 0) fail(j, STAGE_SESSION);
	const char *file = j->argv[0];
	if (strchr(file, '/')) {
		execve(file, j->argv, j->envp);
		fail(j, STAGE_EXEC);
	}
	/* The search execvpe() does: ENOENT and ENOTDIR move on; any other error is kept. */
	int saved = ENOENT;
	size_t flen = strlen(file);
	for (const char *dir = j->path; dir;) {
		const char *end = strchr(dir, ':');
		size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
		if (dlen + flen + 2 <= sizeof j->exe) {
			memcpy(j->exe, dir, dlen);
			size_t at = dlen;
			if (dlen) j->exe[at++] = '/';
			memcpy(j->exe + at, file, flen + 1);
			execve(j->exe, j->argv, j->envp);
			if (errno != ENOENT && errno != ENOTDIR) saved = errno;
		}
		dir = end ? end + 1 : NULL;
	}
	errno = saved;
	fail(j, STAGE_EXEC);
	return 127;
}

static void send_reply(int sock, struct reply r) {
	while (send(sock, &r, sizeof r, 0) < 0 && errno == EINTR) {
	}
}

/* Parse one request in `request` (n bytes) into j; returns STAGE_OK or STAGE_REQUEST. */
static int parse(struct job *j, size_t n) {
	struct request_header h;
	if (n < sizeof h) return STAGE_REQUEST;
	memcpy(&h, request, sizeof h);
	request[n] = 0;
	size_t count = 0;
	for (char *s = request + sizeof h; s < request + n && count < MAX_STRINGS; s += strlen(s) + 1) strings[count++] = s;
	if (h.argc < 1 || (size_t)h.argc + h.envc + 1 != count) return STAGE_REQUEST;
	j->flags = h.flags;
	j->cwd = strings[0];
	/* argv is strings[1..argc]; the environment moves up one to leave argv its NULL. */
	memmove(strings + 2 + h.argc, strings + 1 + h.argc, h.envc * sizeof(char *));
	strings[1 + h.argc] = NULL;
	j->argv = strings + 1;
	j->envp = strings + 2 + h.argc;
	j->envp[h.envc] = NULL;
	j->path = DEFAULT_PATH;
	for (uint32_t i = 0; i < h.envc; i++)
		if (!strncmp(j->envp[i], "PATH=", 5)) j->path = j->envp[i] + 5;
	return STAGE_OK;
}

/* Answer one request; 0, or -1 once the supervisor's end is closed. */
static int start(int sock) {
	struct iovec iov = {request, MAX_REQUEST};
	char control[CMSG_SPACE(3 * sizeof(int))];
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
	if (n <= 0) return -1;
	struct job j = {.fds = {-1, -1, -1}};
	int nfds = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(j.fds, CMSG_DATA(c), (nfds < 3 ? nfds : 3) * sizeof(int));
	}
	struct reply r = {REPLY_STARTED, -1, EINVAL, STAGE_REQUEST};
	int exec_done[2] = {-1, -1};
	pid_t pid = -1;
	if (nfds == 3 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && parse(&j, (size_t)n) == STAGE_OK) {
		j.stage = STAGE_OK;
		if (pipe2(exec_done, O_CLOEXEC) < 0 || (pid = clone(child, child_stack + sizeof child_stack, CLONE_VM | SIGCHLD, &j)) < 0) {
			r.err = errno;
			r.stage = STAGE_CLONE;
		} else {
			r = (struct reply){REPLY_STARTED, pid, 0, STAGE_OK};
		}
		if (exec_done[1] >= 0) close(exec_done[1]);
	}
	/* The child has a copy of the fd table: ours go now, and the start is answered at once. */
	for (int i = 0; i < nfds && i < 3; i++) close(j.fds[i]);
	send_reply(sock, r);
	if (pid > 0) {
		/* Its memory is ours until its execve takes (or it exits): the end of file on the pipe.
		 * Then, if it could not exec, why. Its exit is reported after this, by reap(). */
		char byte;
		while (read(exec_done[0], &byte, 1) < 0 && errno == EINTR) {
		}
		if (j.stage != STAGE_OK) send_reply(sock, (struct reply){REPLY_FAILED, pid, j.err, j.stage});
	}
	if (exec_done[0] >= 0) close(exec_done[0]);
	return 0;
}

static void reap(int sock) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) send_reply(sock, (struct reply){REPLY_EXITED, pid, status, 0});
}

static int serve(int sock);

struct server_start {
	int sock, peer; /* the socketpair: its end, the supervisor's */
	int gate[2];    /* a close-on-exec pipe */
};

/* The server of --init: it shares this program's memory with the process that is about to exec
 * the supervisor, so it waits for that execve (the end of file on the gate) before it runs on. */
static int server(void *arg) {
	struct server_start *s = arg;
	close(s->peer); /* its copies of the fds that are not its own */
	close(s->gate[1]);
	char byte;
	while (read(s->gate[0], &byte, 1) < 0 && errno == EINTR) {
	}
	close(s->gate[0]);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* user code, root too, may not read or trace it */
	return serve(s->sock);
}

/* --init CMD...: start this program's server on a new socketpair, and become `CMD... 3 PID` (the
 * supervisor), with the other end as fd 3. The server is a clone(CLONE_VM) of this process that
 * keeps this address space when the execve replaces ours: under gVisor each new address space
 * costs a host stub process, which fork() would add (~5 ms of CPU and ~15 ms per sandbox start). */
static void become_supervisor(int argc, char **argv) {
	static struct server_start start;
	int pair[2], gate[2];
	pid_t helper = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0 && pipe2(gate, O_CLOEXEC) == 0) {
		start = (struct server_start){pair[0], pair[1], {gate[0], gate[1]}};
		helper = clone(server, server_stack + sizeof server_stack, CLONE_VM | SIGCHLD, &start);
		close(gate[0]);
		if (helper < 0) close(gate[1]); /* else closed by the execve: the server's cue */
	}
	char pid[16], *args[argc + 3];
	memcpy(args, argv, argc * sizeof(char *));
	args[argc] = args[argc + 1] = args[argc + 2] = NULL;
	if (helper > 0 && dup2(pair[1], 3) == 3) { /* dup2 clears close-on-exec */
		snprintf(pid, sizeof pid, "%d", (int)helper);
		args[argc] = "3";
		args[argc + 1] = pid;
	} /* else (no server): the supervisor starts processes itself */
	execvp(args[0], args);
	_exit(127);
}

/* --netstack NETNS CMD... (on the host): CMD (runsc --network=sandbox) in the network namespace
 * NETNS and a mount namespace of its own, a slave of the host's, with a read-only tmpfs over
 * /proc/sys/net/core. What `nsenter | unshare | sh -c 'mount ...; exec'` did in five programs
 * (squall/runtime/gvisor.py says why runsc needs it). */
static int netstack(char *netns, char **argv) {
	int fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		perror("squall-spawn: entering the container's network namespace");
		return 125;
	}
	close(fd);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0) {
		perror("squall-spawn: a mount namespace for runsc");
		return 125;
	}
	if (mount("squall-netstack", "/proc/sys/net/core", "tmpfs", MS_RDONLY, "size=4k,mode=0555") < 0) {
		perror("squall: cannot hide /proc/sys/net/core from runsc --network=sandbox (set SQUALL_GVISOR_NETSTACK=host)");
		return 125;
	}
	execvp(argv[0], argv);
	perror(argv[0]);
	return 127;
}

/* Start processes for the supervisor on `sock` until it closes its end. */
static int serve(int sock) {
	sigset_t chld;
	sigemptyset(&empty_mask);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sock < 0 || sigfd < 0) return 2;
	for (;;) {
		struct pollfd fds[2] = {{sigfd, POLLIN, 0}, {sock, POLLIN, 0}};
		if (poll(fds, 2, -1) < 0) continue;
		if (fds[0].revents) {
			struct signalfd_siginfo info;
			while (read(sigfd, &info, sizeof info) > 0) {
			}
			reap(sock);
		}
		if (fds[1].revents && start(sock) < 0) return 0; /* the supervisor is gone */
	}
}

int main(int argc, char **argv) {
	if (argc >= 4 && !strcmp(argv[1], "--netstack")) return netstack(argv[2], argv + 3);
	if (argc >= 3 && !strcmp(argv[1], "--init")) become_supervisor(argc - 2, argv + 2); /* does not return */
	if (argc != 2) return 2;
	int sock = atoi(argv[1]);
	if (fcntl(sock, F_SETFD, FD_CLOEXEC) < 0) return 2;
	return serve(sock);
}
