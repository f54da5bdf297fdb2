// The three ways to get a named kernel object: create (O_CREAT|O_EXCL, EEXIST
// if present), open (ENOENT if absent), openOrCreate.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <cerrno>
#include <string>

#include "core/errors.h"

namespace shmkit {

enum class OpenMode { kCreate, kOpen, kOpenOrCreate };

inline bool IsOpenMode(const std::string& text) {
  return text == "create" || text == "open" || text == "openOrCreate";
}

inline OpenMode ParseOpenMode(const Napi::Value& value) {
  std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (text == "create") return OpenMode::kCreate;
  if (text == "open") return OpenMode::kOpen;
  if (text == "openOrCreate") return OpenMode::kOpenOrCreate;
  throw ArgValueError(value.Env(), "openMode must be 'create', 'open' or 'openOrCreate'");
}

// What every named object's open takes first: (name, openMode, mode).
struct OpenArgs {
  std::string name;
  OpenMode openMode;
  mode_t mode;  // permission bits for a new object
};

inline OpenArgs RequireOpenArgs(const Napi::CallbackInfo& info) {
  std::string name = RequireString(info[0], "name");
  OpenMode openMode = ParseOpenMode(info[1]);
  return {name, openMode, static_cast<mode_t>(RequireNumber(info[2], "mode"))};
}

// What OpenNamed got: the handle (or `failed`, with errno set) and whether
// this call created the object.
template <typename Handle>
struct Opened {
  Handle handle;
  bool created;
};

// "Create exclusively, else open", once for every named object: `attempt(true)`
// creates exclusively (O_CREAT|O_EXCL, IPC_CREAT|IPC_EXCL), `attempt(false)`
// opens an existing one; either returns `failed` with errno set on failure.
// openOrCreate opens only when the exclusive create met EEXIST, so `created`
// tells the one process that made the object.
template <typename Handle, typename Attempt>
Opened<Handle> OpenNamed(OpenMode mode, Handle failed, Attempt attempt) {
  if (mode != OpenMode::kOpen) {
    Handle handle = attempt(true);
    if (handle != failed) return {handle, true};
    if (mode == OpenMode::kCreate || errno != EEXIST) return {handle, false};
  }
  return {attempt(false), false};
}

// unlink(name) of a named object: `unlink` is shm_unlink, sem_unlink or
// mq_unlink, `syscall` its name for the error.
inline Napi::Value UnlinkNamed(const Napi::CallbackInfo& info, int (*unlink)(const char*),
                               const char* syscall) {
  std::string name = RequireString(info[0], "name");
  if (unlink(name.c_str()) != 0) throw ErrnoError(info.Env(), errno, syscall, name);
  return info.Env().Undefined();
}

}  // namespace shmkit
