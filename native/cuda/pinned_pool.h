#pragma once
// Page-locked host memory that is reused: blocks go back to the pool when their last holder
// lets go, and the next request of a similar size takes one instead of calling cuMemHostAlloc
// (which costs milliseconds for large sizes).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace trtn::cuda {

class PinnedPool;

// Every live block is registered (findPinned), so memory handed to JS as an ArrayBuffer over a
// block is recognised when it comes back as a run's input or output: copied to or from the
// device straight, without staging.
class PinnedBlock : public std::enable_shared_from_this<PinnedBlock> {
 public:
  ~PinnedBlock();
  PinnedBlock(const PinnedBlock&) = delete;
  PinnedBlock& operator=(const PinnedBlock&) = delete;

  void* data() const noexcept { return ptr_; }
  // Bytes asked for; the block may hold more (capacity).
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  friend class PinnedPool;
  PinnedBlock(std::shared_ptr<PinnedPool> pool, void* ptr, std::size_t size, std::size_t capacity);
  std::shared_ptr<PinnedPool> pool_;
  void* ptr_;
  std::size_t size_;
  std::size_t capacity_;
};

struct PinnedPoolStats {
  std::uint64_t allocations = 0;  // cuMemHostAlloc calls
  std::uint64_t reuses = 0;       // requests served from cached blocks
  std::uint64_t frees = 0;        // cuMemFreeHost calls
  std::size_t cachedBytes = 0;    // held by the pool, free for reuse
  std::size_t inUseBytes = 0;     // held by live blocks
  std::size_t maxCachedBytes = 0;
};

// The live block that holds all of [data, data + bytes), or null (pageable memory, or a block
// being freed). Any thread.
std::shared_ptr<PinnedBlock> findPinned(const void* data, std::size_t bytes);

class PinnedPool : public std::enable_shared_from_this<PinnedPool> {
 public:
  static std::shared_ptr<PinnedPool> create(std::size_t maxCachedBytes);
  ~PinnedPool();

  std::shared_ptr<PinnedBlock> acquire(std::size_t bytes);
  PinnedPoolStats stats() const;
  // Frees every cached block.
  void trim();

  // The capacity a request of `bytes` is rounded up to: four size classes per power of two,
  // so at most 25% is wasted and blocks of near sizes are interchangeable.
  static std::size_t roundUp(std::size_t bytes) noexcept;

 private:
  friend class PinnedBlock;
  explicit PinnedPool(std::size_t maxCachedBytes) { stats_.maxCachedBytes = maxCachedBytes; }
  void giveBack(void* ptr, std::size_t capacity) noexcept;

  mutable std::mutex mu_;
  std::multimap<std::size_t, void*> free_;  // capacity -> block
  PinnedPoolStats stats_;
};

}  // namespace trtn::cuda
