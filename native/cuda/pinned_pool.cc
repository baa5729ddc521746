#include "cuda/pinned_pool.h"

#include <cstdint>
#include <vector>

#include "cuda/device.h"
#include "cuda/driver.h"

namespace trtn::cuda {

namespace {

void freeHost(void* ptr) noexcept {
  AnyContextGuard guard(std::nothrow);
  (void)driver().memFreeHost(ptr);
}

// Live blocks by start address. Leaked on purpose: blocks may be freed by finalizers at exit.
struct Registry {
  std::mutex mu;
  std::map<std::uintptr_t, PinnedBlock*> blocks;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

PinnedBlock::PinnedBlock(std::shared_ptr<PinnedPool> pool, void* ptr, std::size_t size, std::size_t capacity)
    : pool_(std::move(pool)), ptr_(ptr), size_(size), capacity_(capacity) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.blocks[reinterpret_cast<std::uintptr_t>(ptr_)] = this;
}

PinnedBlock::~PinnedBlock() {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.blocks.find(reinterpret_cast<std::uintptr_t>(ptr_));
    if (it != r.blocks.end() && it->second == this) r.blocks.erase(it);
  }
  pool_->giveBack(ptr_, capacity_);
}

std::shared_ptr<PinnedBlock> findPinned(const void* data, std::size_t bytes) {
  if (data == nullptr) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.blocks.upper_bound(start);
  if (it == r.blocks.begin()) return nullptr;
  --it;
  PinnedBlock* b = it->second;
  const std::uintptr_t end = it->first + b->capacity();
  if (start >= end || bytes > end - start) return nullptr;
  // Null when the block's last holder is letting go (its destructor waits for this lock).
  return b->weak_from_this().lock();
}

std::shared_ptr<PinnedPool> PinnedPool::create(std::size_t maxCachedBytes) {
  return std::shared_ptr<PinnedPool>(new PinnedPool(maxCachedBytes));
}

PinnedPool::~PinnedPool() {
  // Blocks hold the pool alive, so only cached blocks remain here.
  for (auto& [capacity, ptr] : free_) freeHost(ptr);
}

std::size_t PinnedPool::roundUp(std::size_t bytes) noexcept {
  constexpr std::size_t kMin = 4096;
  if (bytes <= kMin) return kMin;
  std::size_t pow = kMin;  // the largest power of two <= bytes
  while (pow * 2 <= bytes) pow <<= 1;
  const std::size_t step = pow / 4;
  return (bytes + step - 1) / step * step;
}

std::shared_ptr<PinnedBlock> PinnedPool::acquire(std::size_t bytes) {
  const std::size_t capacity = roundUp(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(capacity);
    // Take a cached block unless it is more than twice what is needed.
    if (it != free_.end() && it->first <= capacity * 2) {
      const std::size_t cap = it->first;
      void* ptr = it->second;
      free_.erase(it);
      stats_.cachedBytes -= cap;
      stats_.inUseBytes += cap;
      stats_.reuses++;
      return std::shared_ptr<PinnedBlock>(new PinnedBlock(shared_from_this(), ptr, bytes, cap));
    }
  }
  void* ptr = nullptr;
  {
    // Portable: the block is pinned for every context, whichever is current here.
    AnyContextGuard guard;
    const DriverApi& api = driver();
    CUresult status = api.memHostAlloc(&ptr, capacity, CU_MEMHOSTALLOC_PORTABLE);
    if (status == CUDA_ERROR_OUT_OF_MEMORY) {
      // Cached blocks of other sizes may be what stands in the way; free them and try once more.
      trim();
      status = api.memHostAlloc(&ptr, capacity, CU_MEMHOSTALLOC_PORTABLE);
    }
    check(status, "memHostAlloc");
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.allocations++;
  stats_.inUseBytes += capacity;
  return std::shared_ptr<PinnedBlock>(new PinnedBlock(shared_from_this(), ptr, bytes, capacity));
}

void PinnedPool::giveBack(void* ptr, std::size_t capacity) noexcept {
  bool keep = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.inUseBytes -= capacity;
    if (stats_.cachedBytes + capacity <= stats_.maxCachedBytes) {
      free_.emplace(capacity, ptr);
      stats_.cachedBytes += capacity;
      keep = true;
    } else {
      stats_.frees++;
    }
  }
  if (!keep) freeHost(ptr);
}

PinnedPoolStats PinnedPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void PinnedPool::trim() {
  std::vector<void*> victims;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [capacity, ptr] : free_) victims.push_back(ptr);
    stats_.frees += free_.size();
    stats_.cachedBytes = 0;
    free_.clear();
  }
  for (void* ptr : victims) freeHost(ptr);
}

}  // namespace trtn::cuda
