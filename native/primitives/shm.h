// POSIX shared memory: shm_open(3)/shm_unlink(3), and mappings exposed to JS
// as exactly one external ArrayBuffer each (V8 aborts on two over one address).
// A mapping covers a whole segment or one window of it (mmap(2) at a page-
// aligned offset): a segment longer than Node's largest ArrayBuffer is
// reached through windows only.
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>
#include <string>

namespace shmkit {

// One mmap'ed region. Unmapped when the last holder lets go: the registry
// (until close() or GC of its ArrayBuffer) and any wait sleeping on it.
struct MappingCore {
  void* address = nullptr;
  size_t length = 0;
  bool closed = false;  // the shared pages were swapped for private zero pages
  ~MappingCore();
};

// The live mapping that contains [address, address + length), or null.
std::shared_ptr<MappingCore> FindMapping(const void* address, size_t length);

// Registers a region mapped elsewhere (System V shmat(2)) like one of our
// own mmaps, and returns its one external ArrayBuffer: futex waits find it,
// shm.unmap swaps it for private zero pages, and the range is munmap'ed when
// the buffer is collected (munmap of a shmat'ed range detaches it, as
// shmdt(2) would). On failure the region is unmapped and a coded error thrown.
Napi::Value ExposeMapping(Napi::Env env, void* address, size_t length, const std::string& subject);

void InitShm(Napi::Env env, Napi::Object exports);

}  // namespace shmkit
