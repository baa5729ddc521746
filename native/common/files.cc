#include "common/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/native_error.h"

namespace trtn {

namespace {

NativeError ioError(const std::string& what, const std::string& path, int err) {
  return NativeError("ERR_IO", what + " " + path + ": " + std::strerror(err));
}

}  // namespace

FileLock::FileLock(const std::string& path, bool exclusive) {
  const std::string lockPath = path + ".lock";
  fd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error_ = lockPath + ": " + std::strerror(errno);
    return;
  }
  while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno != EINTR) {
      error_ = lockPath + ": " + std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
}

FileLock::~FileLock() {
  // Closing the descriptor releases the lock.
  if (fd_ >= 0) ::close(fd_);
}

std::vector<uint8_t> readFileBytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    throw ioError("cannot open", path, errno);
  }
  std::vector<uint8_t> out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw ioError("cannot read", path, err);
    }
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

void writeFileAtomic(const std::string& path, const void* data, std::size_t size) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw ioError("cannot write", tmp, errno);
  const auto* p = static_cast<const uint8_t*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw ioError("cannot write", tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  // On disk before the rename: after a crash or power loss the name holds the old bytes or
  // the new ones, never an empty or truncated file (ext4, xfs order the rename only after it).
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP;  // some filesystems cannot
  const int syncErr = errno;
  if (!synced) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw ioError("cannot write", tmp, syncErr);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw ioError("cannot write", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw ioError("cannot replace", path, err);
  }
}

}  // namespace trtn
