// Every error native code throws, in shmkit's one error model (lib/core/errors.ts):
// each carries a Node-style `code`.
#pragma once

#include <napi.h>

#include <string>

namespace shmkit {

// The symbolic name of an errno value ("ENOENT"), or "UNKNOWN".
const char* ErrnoName(int err);

// A failed system call, shaped like Node's fs errors:
//   "ENOENT: no such file or directory, shm_open '/name'"
// with .code ("ENOENT"), .errno (negative, as in Node: util.getSystemErrorName
// maps it back), .syscall and, when there is one, .objectName (the object's name
// or key, as fs errors carry .path).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& subject);

// A native handle used after close(): a plain Error with code ERR_SHMKIT_CLOSED
// ("semaphore is closed"). Users never see it: every TypeScript class checks
// its own closed state first and throws lib/core/errors.ts's ClosedError; this
// is the backstop that keeps a closed handle from touching a freed object.
Napi::Error ClosedError(Napi::Env env, const std::string& what);

// Argument errors, coded as Node codes them:
//   ArgTypeError   TypeError   ERR_INVALID_ARG_TYPE   (not a number, not a Uint8Array)
//   ArgValueError  TypeError   ERR_INVALID_ARG_VALUE  (NaN, an unknown mode, a detached buffer)
//   ArgRangeError  RangeError  ERR_OUT_OF_RANGE       (a number outside its range)
Napi::TypeError ArgTypeError(Napi::Env env, const std::string& message);
Napi::TypeError ArgValueError(Napi::Env env, const std::string& message);
Napi::RangeError ArgRangeError(Napi::Env env, const std::string& message);

// An error of shmkit's own with a Node-style code (ERR_SHMKIT_…).
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// Throws ERR_INVALID_ARG_TYPE unless `value` is a number, ERR_INVALID_ARG_VALUE
// if it is NaN; returns it.
double RequireNumber(const Napi::Value& value, const char* what);

// Throws ERR_INVALID_ARG_TYPE unless `value` is a string; returns it as UTF-8.
std::string RequireString(const Napi::Value& value, const char* what);

// Throws ERR_INVALID_ARG_TYPE unless `value` is a function; returns it.
Napi::Function RequireFunction(const Napi::Value& value, const char* what);

// Throws ERR_INVALID_ARG_TYPE unless `value` is a Uint8Array, and
// ERR_INVALID_ARG_VALUE if its buffer is detached (it would read as empty).
Napi::Uint8Array RequireBytes(const Napi::Value& value, const char* what);

}  // namespace shmkit
