// tests/common/procs.cc - see procs.h.
#include "tests/common/procs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace hpctest
{

bool Alive(pid_t pid)
{
	if (pid <= 0)
		return false;
	std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
	std::string stat;
	if (!std::getline(f, stat))
		return false;
	size_t p = stat.rfind(')');
	return p != std::string::npos && p + 2 < stat.size() && stat[p + 2] != 'Z';
}

// The command line of a process with its NULs turned into blanks ("" if gone).
static std::string CommandLine(pid_t pid, bool first_only)
{
	std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "";
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return "";
	buf[n] = 0;
	if (first_only)
		return buf;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	return std::string(buf, (size_t)n);
}

std::vector<pid_t> ProcessesWith(const std::string &token)
{
	std::vector<pid_t> out;
	DIR *d = opendir("/proc");
	if (!d)
		return out;
	while (struct dirent *e = readdir(d)) {
		char *end;
		long pid = std::strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		if (CommandLine((pid_t)pid, false).find(token) != std::string::npos)
			out.push_back((pid_t)pid);
	}
	closedir(d);
	return out;
}

std::string Argv0(pid_t pid)
{
	return CommandLine(pid, true);
}

bool MapsMemfd(pid_t pid, const std::string &name)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
	std::string line;
	while (std::getline(f, line))
		if (line.find("/memfd:" + name) != std::string::npos)
			return true;
	return false;
}

} // namespace hpctest
