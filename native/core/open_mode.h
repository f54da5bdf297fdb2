// The three ways to get a named kernel object: create (O_CREAT|O_EXCL, EEXIST
// if present), open (ENOENT if absent), openOrCreate.
#pragma once

#include <napi.h>

#include <string>

namespace shmkit {

enum class OpenMode { kCreate, kOpen, kOpenOrCreate };

inline OpenMode ParseOpenMode(const Napi::Value& value) {
  std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (text == "create") return OpenMode::kCreate;
  if (text == "open") return OpenMode::kOpen;
  if (text == "openOrCreate") return OpenMode::kOpenOrCreate;
  throw Napi::TypeError::New(value.Env(), "openMode must be 'create', 'open' or 'openOrCreate'");
}

}  // namespace shmkit
