#pragma once
// Files the native side reads and writes itself (TensorRT's timing cache), with the locking
// trtexec uses for it: an advisory lock on "<file>.lock" (flock, so it excludes other
// processes and other threads of this one alike), and writes through a temporary file and a
// rename so readers that do not lock never see half a file. The lock file stays (removing it
// would let two writers lock different files).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trtn {

class FileLock {
 public:
  // Blocks until the lock is held. When "<path>.lock" cannot be opened (a read-only folder)
  // no lock is taken: the read or write that follows reports its own error.
  FileLock(const std::string& path, bool exclusive);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool held() const noexcept { return fd_ >= 0; }
  // Why the lock is not held (strerror of open or flock); empty when it is.
  const std::string& error() const noexcept { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// The file's bytes; empty when it does not exist. Throws NativeError ERR_IO otherwise.
std::vector<uint8_t> readFileBytes(const std::string& path);
// Writes `size` bytes to `path` through a temporary file beside it and a rename. Throws
// NativeError ERR_IO.
void writeFileAtomic(const std::string& path, const void* data, std::size_t size);

}  // namespace trtn
