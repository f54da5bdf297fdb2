// Node-shaped errors for failed system calls (like fs: code, errno, syscall).
#pragma once

#include <napi.h>

#include <string>

namespace shmkit {

// The symbolic name of an errno value ("ENOENT"), or "UNKNOWN".
const char* ErrnoName(int err);

// An Error whose message reads like Node's fs errors:
//   "ENOENT: no such file or directory, shm_open '/name'"
// with .code ("ENOENT"), .errno (negative, as in Node: util.getSystemErrorName
// maps it back) and .syscall.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& subject);

// Throws a TypeError unless `value` is a finite number; returns it.
double RequireNumber(const Napi::Value& value, const char* what);

// Throws a TypeError unless `value` is a string; returns it as UTF-8.
std::string RequireString(const Napi::Value& value, const char* what);

}  // namespace shmkit
