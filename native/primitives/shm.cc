#include "primitives/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/addon.h"
#include "core/errors.h"
#include "core/open_mode.h"

namespace shmkit {

namespace {

struct RegistryEntry {
  uint64_t generation;
  std::shared_ptr<MappingCore> core;
  bool closed = false;  // unmapped by close(): kept only to reserve the address range
};

// Mappings by start address. Holds the owning reference of every mapping
// whose ArrayBuffer is alive and not closed.
std::mutex registryMutex;
std::map<uintptr_t, RegistryEntry>* registry = new std::map<uintptr_t, RegistryEntry>();
uint64_t nextGeneration = 1;

// Removes the entry at `start` if it still belongs to `generation` (the
// address may have been reused by a newer mapping).
void Unregister(uintptr_t start, uint64_t generation) {
  std::shared_ptr<MappingCore> released;  // unmapped outside the lock
  std::lock_guard<std::mutex> lock(registryMutex);
  auto found = registry->find(start);
  if (found == registry->end() || found->second.generation != generation) return;
  released = std::move(found->second.core);
  registry->erase(found);
}

struct BufferHint {
  uintptr_t start;
  uint64_t generation;
};

Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpenArgs args = RequireOpenArgs(info);
  const char* name = args.name.c_str();
  int access = info[3].ToBoolean() ? O_RDONLY : O_RDWR;  // readOnly
  Opened<int> opened = OpenNamed(args.openMode, -1, [&](bool create) {
    return create ? shm_open(name, access | O_CREAT | O_EXCL, args.mode)
                  : shm_open(name, access, 0);
  });
  if (opened.handle < 0) throw ErrnoError(env, errno, "shm_open", args.name);
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", opened.handle);
  result.Set("created", opened.created);
  return result;
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  return UnlinkNamed(info, shm_unlink, "shm_unlink");
}

// shm.map(fd, length, readOnly, name) -> ArrayBuffer over the whole mapping.
// A read-only handle gets a private copy-on-write mapping, so a stray JS
// write changes only this process's copy instead of raising SIGSEGV.
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(RequireNumber(info[0], "fd"));
  double length = RequireNumber(info[1], "length");
  bool readOnly = info[2].ToBoolean();
  std::string subject = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  if (length <= 0 || length > 9007199254740991.0) {
    throw ArgRangeError(env, "length must be a positive safe integer");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) throw ErrnoError(env, errno, "fstat", subject);
  if (length > static_cast<double>(st.st_size)) {
    // Pages past the object's end would raise SIGBUS when touched.
    throw ArgRangeError(env, "length exceeds the size of '" + subject + "'");
  }
  int flags = readOnly ? MAP_PRIVATE : MAP_SHARED;
  void* address = mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, flags, fd, 0);
  if (address == MAP_FAILED) throw ErrnoError(env, errno, "mmap", subject);
  auto core = std::make_shared<MappingCore>();
  core->address = address;
  core->length = static_cast<size_t>(length);
  auto* hint = new BufferHint{reinterpret_cast<uintptr_t>(address), 0};
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    hint->generation = nextGeneration++;
    (*registry)[hint->start] = RegistryEntry{hint->generation, core};
  }
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(
      env, address, core->length,
      [](napi_env, void*, void* data) {
        auto* gone = static_cast<BufferHint*>(data);
        Unregister(gone->start, gone->generation);
        delete gone;
      },
      hint, &buffer);
  if (status != napi_ok) {
    Unregister(hint->start, hint->generation);
    delete hint;
    throw CodedError(env, "ERR_SHMKIT_NO_EXTERNAL_BUFFERS",
                     "could not create an ArrayBuffer over the mapping of '" + subject +
                         "' (external buffers disallowed?)");
  }
  return Napi::Value(env, buffer);
}

// shm.unmap(arrayBuffer): detaches the buffer (every view reads as empty from now
// on) and releases the mapping once no wait sleeps on it.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw ArgTypeError(env, "buffer must be an ArrayBuffer");
  auto buffer = info[0].As<Napi::ArrayBuffer>();
  if (buffer.IsDetached()) return env.Undefined();
  auto start = reinterpret_cast<uintptr_t>(buffer.Data());
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    auto found = registry->find(start);
    if (found == registry->end() || found->second.closed) {
      throw ArgValueError(env, "buffer is not a shmkit mapping");
    }
    // Native code may still read the old range without JS (zlib, crypto or
    // fs on libuv's threadpool): swap the shared pages for private zero
    // pages instead of unmapping, so such a reader sees zeros, not SIGSEGV.
    // The range is really unmapped when the ArrayBuffer is collected.
    const MappingCore& core = *found->second.core;
    if (mmap(core.address, core.length, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
      throw ErrnoError(env, errno, "mmap", "(replacing a closed mapping)");
    }
    found->second.closed = true;
    found->second.core->closed = true;
  }
  buffer.Detach();
  return env.Undefined();
}

}  // namespace

namespace {
// Closed mappings whose range we keep reserved a while longer: libuv's
// threadpool may still be reading one after its ArrayBuffer is gone (Node
// frees an external buffer's memory as soon as it is detached). Bounded, so
// a process that opens and closes segments forever stays within
// vm.max_map_count.
constexpr size_t kKeptClosedRanges = 64;
std::mutex closedMutex;
std::deque<std::pair<void*, size_t>>* closedRanges = new std::deque<std::pair<void*, size_t>>();
}  // namespace

MappingCore::~MappingCore() {
  if (address == nullptr) return;
  if (!closed) {
    munmap(address, length);
    return;
  }
  std::lock_guard<std::mutex> lock(closedMutex);
  closedRanges->emplace_back(address, length);
  if (closedRanges->size() > kKeptClosedRanges) {
    munmap(closedRanges->front().first, closedRanges->front().second);
    closedRanges->pop_front();
  }
}

std::shared_ptr<MappingCore> FindMapping(const void* address, size_t length) {
  auto start = reinterpret_cast<uintptr_t>(address);
  std::lock_guard<std::mutex> lock(registryMutex);
  auto found = registry->upper_bound(start);
  if (found == registry->begin()) return nullptr;
  --found;
  if (found->second.closed) return nullptr;
  const MappingCore& core = *found->second.core;
  uintptr_t base = reinterpret_cast<uintptr_t>(core.address);
  if (start < base || start + length > base + core.length) return nullptr;
  return found->second.core;
}

void InitShm(Napi::Env env, Napi::Object exports) {
  ExportGroup(env, exports, "shm",
              {{"open", ShmOpen}, {"unlink", ShmUnlink}, {"map", MapShared}, {"unmap", Unmap}});
}

}  // namespace shmkit
