#include "primitives/fifo.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <string>

#include "core/addon.h"
#include "core/errors.h"

namespace shmkit {

namespace {

// mkfifo(path, mode): the mode is masked by the process umask, as for open(2).
Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path = RequireString(info[0], "path");
  double mode = RequireNumber(info[1], "mode");
  if (mode < 0 || mode > 07777) throw ArgRangeError(info.Env(), "mode out of range");
  if (mkfifo(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    throw ErrnoError(info.Env(), errno, "mkfifo", path);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitFifo(Napi::Env env, Napi::Object exports) {
  ExportGroup(env, exports, "fifo", {{"mkfifo", Mkfifo}});
}

}  // namespace shmkit
