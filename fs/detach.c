/* SPDX-License-Identifier: MIT */
/* Detaching the daemon: fork first, report the mount's outcome through the
 * parent (detach.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detach.h"

/* The parent: exits 0 when the child says it is mounted, else with the
 * child's own exit status (it printed the reason). */
static _Noreturn void parent_wait(pid_t child, int fd)
{
	char done;
	ssize_t n;
	int status;

	do
		n = read(fd, &done, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
	fprintf(stderr, "daxfs: the daemon died during the mount (signal %d)\n",
		WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	_exit(1);
}

int detach_fork(struct detach *d)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* Whatever stdio holds would otherwise be written twice. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid > 0) {
		close(fds[1]);
		parent_wait(pid, fds[0]);
	}
	close(fds[0]);
	d->active = true;
	d->notify_fd = fds[1];
	return 0;
}

int detach_complete(struct detach *d)
{
	const char done = 1;
	int nullfd;

	if (!d->active)
		return 0;
	if (setsid() < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd < 0)
		return -errno;
	fflush(NULL);
	dup2(nullfd, STDIN_FILENO);
	dup2(nullfd, STDOUT_FILENO);
	dup2(nullfd, STDERR_FILENO);
	if (nullfd > STDERR_FILENO)
		close(nullfd);
	if (write(d->notify_fd, &done, 1) != 1)
		return -errno;
	close(d->notify_fd);
	d->active = false;
	return 0;
}
