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

// What the ArrayBuffer's finalizer needs to drop the registry entry. Two
// owners: the finalizer and the code that creates the buffer, because when
// Node refuses the buffer (a length above buffer.constants.MAX_LENGTH,
// Buffer::New) it runs the finalizer itself, now or from a later tick, and
// the creator cannot tell which. The last owner frees the hint.
struct BufferHint {
  uintptr_t start;
  uint64_t generation;
  int owners = 2;  // touched on the JS thread only
};

void ReleaseHint(BufferHint* hint) {
  if (--hint->owners == 0) delete hint;
}

void FinalizeBuffer(napi_env, void*, void* data) {
  auto* gone = static_cast<BufferHint*>(data);
  Unregister(gone->start, gone->generation);  // a no-op if already done
  ReleaseHint(gone);
}

// A RangeError (code ERR_SHMKIT_TOO_LARGE) for a mapping that this Node
// cannot expose as one ArrayBuffer.
Napi::Error TooLargeError(Napi::Env env, size_t length, const std::string& subject) {
  Napi::Error error = Napi::RangeError::New(
      env, "cannot expose " + std::to_string(length) + " bytes of '" + subject +
               "' as one ArrayBuffer on this Node (above buffer.constants.MAX_LENGTH)");
  error.Set("code", Napi::String::New(env, "ERR_SHMKIT_TOO_LARGE"));
  return error;
}

// Takes the exception Node left pending, if any, and tells whether it was
// Node's refusal of the length (ERR_BUFFER_TOO_LARGE).
bool ClearPendingTooLarge(Napi::Env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return false;
  napi_value thrown;
  napi_get_and_clear_last_exception(env, &thrown);
  Napi::Value value(env, thrown);
  if (!value.IsObject()) return false;
  Napi::Value code = value.As<Napi::Object>().Get("code");
  return code.IsString() && code.As<Napi::String>().Utf8Value() == "ERR_BUFFER_TOO_LARGE";
}

// Wraps a registered mapping in an external ArrayBuffer. On failure the
// mapping is unregistered (and so unmapped) once, the hint is freed once by
// whichever of this function and the finalizer lets go last, and a coded
// error is thrown instead of whatever Node left pending.
Napi::Value WrapMapping(Napi::Env env, BufferHint* hint, void* address, size_t length,
                        const std::string& subject) {
  napi_value buffer;
  napi_status status =
      napi_create_external_arraybuffer(env, address, length, FinalizeBuffer, hint, &buffer);
  if (status == napi_ok) {
    ReleaseHint(hint);
    return Napi::Value(env, buffer);
  }
  Unregister(hint->start, hint->generation);
  if (status == napi_no_external_buffers_allowed) {
    delete hint;  // refused before a finalizer was made: it will never run
    throw CodedError(env, "ERR_SHMKIT_NO_EXTERNAL_BUFFERS",
                     "could not create an ArrayBuffer over the mapping of '" + subject +
                         "' (external buffers disallowed)");
  }
  ReleaseHint(hint);
  if (ClearPendingTooLarge(env)) throw TooLargeError(env, length, subject);
  throw CodedError(env, "ERR_SHMKIT_NO_EXTERNAL_BUFFERS",
                   "could not create an ArrayBuffer over the mapping of '" + subject + "'");
}

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

// shm.map(fd, length, readOnly, name, offset = 0) -> an ArrayBuffer over its
// own mmap of bytes [offset, offset + length) of the object: the whole
// segment, or one window of it. A read-only handle gets a private
// copy-on-write mapping, so a stray JS write changes only this process's
// copy instead of raising SIGSEGV.
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(RequireNumber(info[0], "fd"));
  double length = RequireNumber(info[1], "length");
  bool readOnly = info[2].ToBoolean();
  std::string subject = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  double offset = info[4].IsUndefined() ? 0 : RequireNumber(info[4], "offset");
  constexpr double kMaxSafe = 9007199254740991.0;
  if (length <= 0 || length > kMaxSafe ||
      length != static_cast<double>(static_cast<int64_t>(length))) {
    throw ArgRangeError(env, "length must be a positive safe integer");
  }
  long page = sysconf(_SC_PAGESIZE);
  if (offset < 0 || offset > kMaxSafe ||
      offset != static_cast<double>(static_cast<int64_t>(offset)) ||
      static_cast<int64_t>(offset) % page != 0) {
    throw ArgRangeError(env, "offset must be a non-negative multiple of the page size (" +
                                 std::to_string(page) + ")");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) throw ErrnoError(env, errno, "fstat", subject);
  if (offset + length > static_cast<double>(st.st_size)) {
    // Pages past the object's end would raise SIGBUS when touched.
    throw ArgRangeError(env, "offset + length exceeds the size of '" + subject + "'");
  }
  int flags = readOnly ? MAP_PRIVATE : MAP_SHARED;
  void* address = mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, flags, fd,
                       static_cast<off_t>(offset));
  if (address == MAP_FAILED) throw ErrnoError(env, errno, "mmap", subject);
  return ExposeMapping(env, address, static_cast<size_t>(length), subject);
}

// shm.close(fd): close(2) of a descriptor shm.open returned. Natively, not
// with fs.closeSync: inside a Worker, Node warns when fs closes a descriptor
// that fs did not open in that thread.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(RequireNumber(info[0], "fd"));
  std::string subject = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  // Linux always releases the descriptor, even when close(2) fails with
  // EINTR: never retry, it could close a descriptor reused meanwhile.
  if (close(fd) != 0 && errno != EINTR) throw ErrnoError(env, errno, "close", subject);
  return env.Undefined();
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

// shm.pageSize() -> sysconf(_SC_PAGESIZE): window offsets are multiples of it.
Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
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

Napi::Value ExposeMapping(Napi::Env env, void* address, size_t length, const std::string& subject) {
  auto core = std::make_shared<MappingCore>();
  core->address = address;
  core->length = length;
  auto* hint = new BufferHint{reinterpret_cast<uintptr_t>(address), 0};
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    hint->generation = nextGeneration++;
    (*registry)[hint->start] = RegistryEntry{hint->generation, core};
  }
  core.reset();  // the registry holds the only reference: unregistering unmaps
  return WrapMapping(env, hint, address, length, subject);
}

void InitShm(Napi::Env env, Napi::Object exports) {
  ExportGroup(env, exports, "shm",
              {{"open", ShmOpen},
               {"unlink", ShmUnlink},
               {"map", MapShared},
               {"unmap", Unmap},
               {"close", CloseFd},
               {"pageSize", PageSize}});
}

}  // namespace shmkit
