// Supervised child processes (plugins/base/child.h): spawning with exactly
// the fds asked for, waits that keep their deadline, SIGTERM then SIGKILL,
// and no process or zombie left behind.
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "plugins/base/child.h"
#include "plugins/base/plugin_util.h"
}

namespace
{

// No child of this test process is left, not even a zombie.
void ExpectNoChildren()
{
	errno = 0;
	EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
	EXPECT_EQ(errno, ECHILD);
}

// The process state letter of pid in /proc ('Z': zombie), or 0 when it is gone.
char State(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : 0;
}

pid_t Spawn(const char *script, const int *fds = nullptr, unsigned nfds = 0, unsigned flags = 0)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)script, nullptr};
	hpcb_child_spec spec = {"/bin/sh", argv, fds, nfds, flags};
	pid_t pid = -1;
	EXPECT_EQ(hpcb_child_spawn(&spec, &pid), 0) << script;
	return pid;
}

// One line from fd within 10 s (a busy machine starts processes slowly), or "".
std::string ReadLine(int fd)
{
	std::string s;
	uint64_t deadline = hpcb_now_ms() + 10000;
	while (hpcb_now_ms() < deadline) {
		pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n <= 0 || c == '\n')
			break;
		s += c;
	}
	return s;
}

TEST(Child, ExitStatusIsSeenThenReaped)
{
	pid_t pid = Spawn("exit 3");
	ASSERT_GT(pid, 0);
	int st = 0;
	ASSERT_EQ(hpcb_child_wait(pid, 10000, &st), 0);
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(WEXITSTATUS(st), 3);
	// A wait only looks: the zombie keeps its pid reserved until it is stopped.
	EXPECT_EQ(State(pid), 'Z');
	st = 0;
	EXPECT_EQ(hpcb_child_stop(pid, 0, 0, 0, &st), 0);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << st;
	ExpectNoChildren();
	EXPECT_EQ(hpcb_child_wait(pid, 0, &st), -ECHILD);
	EXPECT_EQ(st, -1);
}

TEST(Child, TrueExitsWithinTheGraceAndIsReaped)
{
	char *argv[] = {(char *)"true", nullptr};
	hpcb_child_spec spec = {"true", argv, nullptr, 0, 0}; // looked up on PATH
	pid_t pid = -1;
	ASSERT_EQ(hpcb_child_spawn(&spec, &pid), 0);
	uint64_t t0 = hpcb_now_ms();
	int st = -1;
	EXPECT_EQ(hpcb_child_stop(pid, 10000, 1000, 0, &st), 0);
	EXPECT_LT(hpcb_now_ms() - t0, 10000u);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
	ExpectNoChildren();
}

TEST(Child, WaitsKeepTheirDeadline)
{
	char *argv[] = {(char *)"sleep", (char *)"30", nullptr};
	hpcb_child_spec spec = {"/bin/sleep", argv, nullptr, 0, 0};
	pid_t pid = -1;
	ASSERT_EQ(hpcb_child_spawn(&spec, &pid), 0);
	EXPECT_EQ(hpcb_child_wait(pid, 0, nullptr), -ETIMEDOUT);
	uint64_t t0 = hpcb_now_ms();
	EXPECT_EQ(hpcb_child_wait(pid, 200, nullptr), -ETIMEDOUT);
	uint64_t took = hpcb_now_ms() - t0;
	EXPECT_GE(took, 200u);
	EXPECT_LT(took, 5000u); // the bound is loose: a busy machine is slow, not wrong
	// sleep dies of SIGTERM: no SIGKILL needed.
	int st = -1;
	EXPECT_EQ(hpcb_child_stop(pid, 0, 10000, 0, &st), 0);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) << st;
	ExpectNoChildren();
}

TEST(Child, OneThatIgnoresSigtermIsKilledAfterItsGrace)
{
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	const int fds[] = {HPCB_CHILD_KEEP, p[1], HPCB_CHILD_KEEP};
	pid_t pid = Spawn("trap '' TERM; echo ready; exec /bin/sleep 30", fds, 3);
	close(p[1]);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(ReadLine(p[0]), "ready"); // SIGTERM is ignored from here on
	uint64_t t0 = hpcb_now_ms();
	int st = -1;
	EXPECT_EQ(hpcb_child_stop(pid, 100, 300, 0, &st), 0);
	uint64_t took = hpcb_now_ms() - t0;
	EXPECT_GE(took, 400u); // the grace, then the SIGTERM's term: both kept
	EXPECT_LT(took, 10000u);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
	close(p[0]);
	ExpectNoChildren();
}

TEST(Child, StopKillsTheProcessGroup)
{
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	const int fds[] = {HPCB_CHILD_KEEP, p[1], HPCB_CHILD_KEEP};
	// A grandchild that outlives its parent's SIGTERM: only the group kill reaches it.
	pid_t pid = Spawn("trap '' TERM; /bin/sleep 30 & echo $!; wait", fds, 3, HPCB_CHILD_PGROUP);
	close(p[1]);
	ASSERT_GT(pid, 0);
	pid_t grandchild = (pid_t)atoi(ReadLine(p[0]).c_str());
	ASSERT_GT(grandchild, 0);
	EXPECT_EQ(getpgid(grandchild), pid);
	EXPECT_EQ(hpcb_child_stop(pid, 0, 100, HPCB_CHILD_PGROUP, nullptr), 0);
	// Reaped by init (or left a zombie where init does not reap): not running.
	uint64_t deadline = hpcb_now_ms() + 10000;
	char s = State(grandchild);
	while (s != 0 && s != 'Z' && hpcb_now_ms() < deadline) {
		usleep(10000);
		s = State(grandchild);
	}
	EXPECT_TRUE(s == 0 || s == 'Z') << s;
	close(p[0]);
	ExpectNoChildren();
}

TEST(Child, GetsExactlyTheFdsOfTheSpec)
{
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	// Not close-on-exec: a plain posix_spawn would hand it down.
	int stray = fcntl(p[1], F_DUPFD, 10);
	ASSERT_GE(stray, 10);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(null, 0);
	const int fds[] = {null, p[1], HPCB_CHILD_KEEP, p[1]};
	pid_t pid = Spawn("for f in 3 4 5 6 7 8 9 10 11 12; do [ -e /proc/self/fd/$f ] && "
			  "echo -n \"$f \"; done; echo end",
			  fds, 4);
	close(p[1]);
	close(stray);
	close(null);
	ASSERT_GT(pid, 0);
	EXPECT_EQ(ReadLine(p[0]), "3 end"); // fd 3 as asked; the stray fd is not there
	EXPECT_EQ(hpcb_child_stop(pid, 10000, 1000, 0, nullptr), 0);
	close(p[0]);
	ExpectNoChildren();
}

TEST(Child, AMissingProgramIsRefused)
{
	char *argv[] = {(char *)"x", nullptr};
	pid_t pid = -1;
	hpcb_child_spec path = {"/no/such/program", argv, nullptr, 0, 0};
	EXPECT_EQ(hpcb_child_spawn(&path, &pid), -ENOENT);
	hpcb_child_spec name = {"no-such-program-on-path", argv, nullptr, 0, 0};
	EXPECT_EQ(hpcb_child_spawn(&name, &pid), -ENOENT);
	ExpectNoChildren();
}

TEST(Child, IdleDeathIsSeenOnTheChannelAndTheProcess)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	const int fds[] = {HPCB_CHILD_KEEP, HPCB_CHILD_KEEP, HPCB_CHILD_KEEP, sv[1]};
	pid_t pid = Spawn("echo unasked >&3; exec /bin/sleep 30", fds, 4);
	close(sv[1]);
	ASSERT_GT(pid, 0);
	pollfd p = {sv[0], POLLIN, 0};
	ASSERT_EQ(poll(&p, 1, 10000), 1);
	EXPECT_TRUE(hpcb_child_idle_dead(pid, sv[0], false)); // speaking unasked: broken
	EXPECT_FALSE(hpcb_child_idle_dead(pid, sv[0], true)); // a stale message, dropped
	EXPECT_FALSE(hpcb_child_idle_dead(pid, sv[0], false));
	kill(pid, SIGKILL);
	ASSERT_EQ(hpcb_child_wait(pid, 10000, nullptr), 0);
	EXPECT_TRUE(hpcb_child_idle_dead(pid, sv[0], true));
	EXPECT_TRUE(hpcb_child_idle_dead(pid, -1, true)); // exited, whatever the channel
	int st = -1;
	EXPECT_EQ(hpcb_child_stop(pid, 0, 0, 0, &st), 0);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
	close(sv[0]);
	ExpectNoChildren();
}

TEST(Child, StatusesAreSaidInWords)
{
	char buf[96];
	hpcb_child_describe(3 << 8, buf, sizeof(buf));
	EXPECT_STREQ(buf, "exited with status 3");
	hpcb_child_describe(SIGKILL, buf, sizeof(buf));
	EXPECT_NE(std::string(buf).find("killed by signal 9"), std::string::npos) << buf;
	hpcb_child_describe(-1, buf, sizeof(buf));
	EXPECT_STREQ(buf, "ended (status unknown)");
}

} // namespace
